"""Every wasmtime trap is classified (NEAR's test_all_wasmtime_traps_classified)."""

from __future__ import annotations

import pytest
import wasmtime

from zonechain.vm.errors import ContractError, NodeFault
from zonechain.vm.traps import NODE_FAULT, TRAP_CODES, TRAP_MESSAGES, classify_trap


def test_all_wasmtime_traps_classified() -> None:
    unclassified = [code.name for code in list(wasmtime.TrapCode) if code not in TRAP_CODES]
    assert unclassified == [], "classify these new wasmtime traps in vm/traps.py"


@pytest.mark.parametrize("code", list(wasmtime.TrapCode), ids=lambda c: c.name)
def test_each_trap_maps_to_one_contract_error_or_a_node_fault(code: wasmtime.TrapCode) -> None:
    ours = TRAP_CODES[code]
    if ours == NODE_FAULT:
        with pytest.raises(NodeFault):
            classify_trap(code.value)
        return
    error = classify_trap(code.value)
    assert isinstance(error, ContractError)
    assert error.code == ours
    assert error.message and "wasmtime" not in error.message.lower()


def test_unknown_trap_value_is_a_node_fault() -> None:
    with pytest.raises(NodeFault):
        classify_trap(250)


def test_plain_traps_have_fixed_messages() -> None:
    plain = {v for v in TRAP_CODES.values()} - {NODE_FAULT, "out_of_gas", "stack_overflow"}
    assert plain <= set(TRAP_MESSAGES)
