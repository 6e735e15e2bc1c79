"""Governance over real contracts in the VM: freeze / unfreeze, upgrade keeping storage."""

from __future__ import annotations

import hashlib

import pytest

from tests.node.test_permissions_support import address, approve, network_state, propose
from tests.vm.runtime_support import imports, wasm
from zonechain.node.permissions.actions import (
    FreezeContract,
    SetContractPolicy,
    UnfreezeContract,
    UpgradeContract,
)
from zonechain.node.permissions.authorize import authorize
from zonechain.node.permissions.errors import PermissionDenied
from zonechain.node.permissions.policy import parse_policy
from zonechain.vm.metadata import ContractMetadata
from zonechain.vm.runtime import CallContext, Outcome, VirtualMachine
from zonechain.vm.state import DictState, contract_meta_key

ZONE = "trade-finance"
COUNTER = b"\xc1" * 20
SPARE = b"\xc2" * 20
GAS = 1_000_000


def counter_wat(step: int, scale: int) -> str:
    """A counter under storage key "n": ``inc`` adds ``step``, ``get`` returns n * ``scale``."""
    return f"""
(module
  {imports("storage_read", "storage_write", "return_data")}
  (memory (export "memory") 1)
  (data (i32.const 0) "n")
  (func $load
    (i64.store (i32.const 128) (i64.const 0))
    (drop (call $storage_read (i32.const 0) (i32.const 1) (i32.const 128) (i32.const 8))))
  (func (export "inc")
    (call $load)
    (i64.store (i32.const 128) (i64.add (i64.load (i32.const 128)) (i64.const {step})))
    (call $storage_write (i32.const 0) (i32.const 1) (i32.const 128) (i32.const 8)))
  (func (export "get")
    (call $load)
    (i64.store (i32.const 128) (i64.mul (i64.load (i32.const 128)) (i64.const {scale})))
    (call $return_data (i32.const 128) (i32.const 8))))
"""


VERSION_1 = wasm(counter_wat(step=1, scale=1))
VERSION_2 = wasm(counter_wat(step=100, scale=10))


def context(contract: bytes) -> CallContext:
    sender = address("a-ops")
    return CallContext(caller=sender, origin=sender, contract=contract, zone=ZONE,
                       block_height=10, block_time_ms=0, tx_hash=b"\x01" * 32)


@pytest.fixture(scope="module")
def vm() -> VirtualMachine:
    return VirtualMachine()


def deployed(vm: VirtualMachine) -> DictState:
    state = network_state()
    for contract, code in ((COUNTER, VERSION_1), (SPARE, VERSION_2)):
        outcome = vm.deploy(code, b"", context(contract), state, GAS)
        assert outcome.ok, outcome.error
        state.apply(outcome.writes)
    return state


def call(vm: VirtualMachine, state: DictState, method: str) -> Outcome:
    outcome = vm.call(method, b"", context(COUNTER), state, GAS)
    if outcome.ok:
        state.apply(outcome.writes)
    return outcome


def value(vm: VirtualMachine, state: DictState) -> int:
    outcome = vm.query("get", b"", context(COUNTER), state, GAS)
    assert outcome.ok, outcome.error
    return int.from_bytes(outcome.return_data, "little")


def govern(state: DictState, action: object) -> None:
    """Propose and reach trade-finance's AT_LEAST 2 admin; assert it executed."""
    outcome = propose(state, "a-admin", action)  # type: ignore[arg-type]
    assert outcome.ok, outcome.error
    outcome = approve(state, "b-admin", outcome.proposal_id or 0)
    assert outcome.ok and outcome.events[-1].topic == b"governance/executed"


def test_freeze_makes_calls_fail_and_unfreeze_restores_them(vm: VirtualMachine) -> None:
    state = deployed(vm)
    assert call(vm, state, "inc").ok
    govern(state, FreezeContract(COUNTER))
    frozen = call(vm, state, "inc")
    assert not frozen.ok and frozen.error is not None and frozen.error.code == "contract_frozen"
    assert value(vm, state) == 1  # queries still read a frozen contract
    again = propose(state, "a-admin", FreezeContract(COUNTER), height=12)
    assert again.error is not None and again.error.code == "frozen_unchanged"
    govern(state, UnfreezeContract(COUNTER))
    assert call(vm, state, "inc").ok
    assert value(vm, state) == 2


def test_upgrade_keeps_storage_and_runs_the_new_code(vm: VirtualMachine) -> None:
    state = deployed(vm)
    for _ in range(3):
        assert call(vm, state, "inc").ok
    storage_before = {k: v for k, v in state.items.items() if k.startswith(b"s" + COUNTER)}
    govern(state, UpgradeContract(COUNTER, hashlib.sha256(VERSION_2).digest()))
    storage_after = {k: v for k, v in state.items.items() if k.startswith(b"s" + COUNTER)}
    assert storage_after == storage_before
    assert value(vm, state) == 30  # the kept 3, read by version 2 (x10)
    assert call(vm, state, "inc").ok
    assert value(vm, state) == 1030
    metadata = ContractMetadata.decode(state.items[contract_meta_key(COUNTER)])
    assert metadata.code_hash == hashlib.sha256(VERSION_2).digest()
    assert metadata.deployer == address("a-ops") and metadata.zone == ZONE


def test_upgrade_to_code_not_stored_is_refused(vm: VirtualMachine) -> None:
    state = deployed(vm)
    outcome = propose(state, "a-admin", UpgradeContract(COUNTER, b"\x99" * 32))
    assert outcome.error is not None and outcome.error.code == "unknown_code"
    outcome = propose(state, "a-admin", FreezeContract(b"\x77" * 20))
    assert outcome.error is not None and outcome.error.code == "unknown_contract"


def test_contract_call_policy_set_by_governance(vm: VirtualMachine) -> None:
    state = deployed(vm)
    authorize(state, "call", ZONE, address("b-client"), COUNTER)
    govern(state, SetContractPolicy(COUNTER, parse_policy("ANY client of bank-a")))
    with pytest.raises(PermissionDenied, match="requires ANY client of bank-a"):
        authorize(state, "call", ZONE, address("b-client"), COUNTER)
    authorize(state, "call", ZONE, address("a-ops"), COUNTER)
    govern(state, SetContractPolicy(COUNTER, None))
    authorize(state, "call", ZONE, address("b-client"), COUNTER)
