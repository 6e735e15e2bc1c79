"""Golden gas figures for the reference token contract: any metering change shows up here.

If one of these numbers changes, the gas schedule (vm/gas.py), the engine's
fuel accounting or the instrumentation changed: bump GAS_SCHEDULE_VERSION when
it is intended and update the figures in the same review.
"""

from __future__ import annotations

import pytest

from tests.vm.runtime_support import (
    ALICE,
    BOB,
    GAS,
    TOKEN_WAT,
    amount,
    call,
    context,
    deploy,
    transfer_args,
    wasm,
)
from zonechain.vm import gas
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import DictState

GOLDEN = {
    "deploy": 226_000,
    "noop": 15,
    "mint": 5_811,
    "transfer": 15_308,
    "transfer_insufficient": 2_623,
    "balance_query": 1_513,
}


@pytest.fixture(scope="module")
def figures() -> dict[str, int]:
    vm = VirtualMachine()
    state = DictState()
    return {
        "deploy": deploy(vm, state, TOKEN_WAT).gas_used,
        "noop": call(vm, state, "noop").gas_used,
        "mint": call(vm, state, "mint", ALICE + amount(100)).gas_used,
        "transfer": call(vm, state, "transfer", transfer_args(ALICE, BOB, 30)).gas_used,
        "transfer_insufficient": call(
            vm, state, "transfer", transfer_args(ALICE, BOB, 3_000)).gas_used,
        "balance_query": vm.query("balance", ALICE, context(), state, GAS).gas_used,
    }


def test_golden_gas_figures(figures: dict[str, int]) -> None:
    assert figures == GOLDEN


def test_deploy_cost_is_the_schedule(figures: dict[str, int]) -> None:
    code_bytes = len(wasm(TOKEN_WAT))
    assert figures["deploy"] == gas.GAS_DEPLOY_BASE + gas.GAS_DEPLOY_PER_CODE_BYTE * code_bytes


def test_mint_is_host_schedule_plus_its_instructions(figures: dict[str, int]) -> None:
    host = (gas.GAS_HOST_CALL_BASE + gas.GAS_PER_BYTE_COPIED * 28
            + gas.GAS_STORAGE_WRITE_BASE + gas.GAS_STORAGE_WRITE_PER_BYTE * (20 + 8))
    instructions = figures["mint"] - host
    assert 0 < instructions < 50


def test_out_of_gas_anywhere_uses_exactly_the_limit() -> None:
    vm = VirtualMachine()
    state = DictState()
    deploy(vm, state, TOKEN_WAT)
    call(vm, state, "mint", ALICE + amount(100))
    full = GOLDEN["transfer"]
    for limit in (0, 1, 100, 1_500, full // 2, full - 1, full):
        outcome = call(vm, state, "transfer", transfer_args(ALICE, BOB, 30), gas_limit=limit)
        assert outcome.error is not None and outcome.error.code == "out_of_gas"
        assert outcome.gas_used == limit and outcome.writes == {}
    # A call must end with gas left (docs/ABI.md, "Gas"): the limit must exceed the use.
    assert call(vm, state, "transfer", transfer_args(ALICE, BOB, 30), gas_limit=full + 1).ok
