"""Deploy, call and query through VirtualMachine: outcomes, writes, isolation between calls."""

from __future__ import annotations

import pytest

from tests.vm.runtime_support import (
    ALICE,
    BOB,
    GAS,
    OTHER,
    TOKEN,
    TOKEN_WAT,
    amount,
    balance_key,
    call,
    context,
    deploy,
    error_code,
    imports,
    transfer_args,
    wasm,
)
from zonechain.vm.errors import NodeFault
from zonechain.vm.metadata import ContractMetadata
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import DictState, code_key, contract_meta_key
from zonechain.vm.traps import Aborted


@pytest.fixture(scope="module")
def vm() -> VirtualMachine:
    return VirtualMachine()


def test_deploy_stores_code_and_metadata(vm: VirtualMachine) -> None:
    state = DictState()
    outcome = deploy(vm, state, TOKEN_WAT)
    assert outcome.ok and outcome.error is None
    meta = ContractMetadata.decode(state.items[contract_meta_key(TOKEN)])
    assert meta.zone == "trade" and meta.deployer == ALICE and not meta.frozen
    assert state.items[code_key(meta.code_hash)] == wasm(TOKEN_WAT)


def test_transfer_moves_balance_and_emits_event(vm: VirtualMachine) -> None:
    state = DictState()
    deploy(vm, state, TOKEN_WAT)
    assert call(vm, state, "mint", ALICE + amount(100)).ok
    outcome = call(vm, state, "transfer", transfer_args(ALICE, BOB, 30))
    assert outcome.ok
    assert outcome.return_data == amount(70)
    assert state.items[balance_key(TOKEN, ALICE)] == amount(70)
    assert state.items[balance_key(TOKEN, BOB)] == amount(30)
    assert [(e.contract, e.topic) for e in outcome.events] == [(TOKEN, b"transfer")]
    assert list(outcome.writes) == sorted(outcome.writes)


def test_abort_reverts_with_the_contracts_message(vm: VirtualMachine) -> None:
    state = DictState()
    deploy(vm, state, TOKEN_WAT)
    call(vm, state, "mint", ALICE + amount(5))
    outcome = call(vm, state, "transfer", transfer_args(ALICE, BOB, 6))
    assert not outcome.ok
    assert isinstance(outcome.error, Aborted)
    assert str(outcome.error) == "aborted: insufficient balance"
    assert outcome.writes == {} and outcome.events == ()
    assert outcome.gas_used > 0


def test_query_reads_but_cannot_write(vm: VirtualMachine) -> None:
    state = DictState()
    deploy(vm, state, TOKEN_WAT)
    call(vm, state, "mint", ALICE + amount(9))
    read = vm.query("balance", ALICE, context(), state, GAS)
    assert read.ok and read.return_data == amount(9) and read.writes == {}
    write = vm.query("mint", ALICE + amount(1), context(), state, GAS)
    assert error_code(write) == "read_only"


@pytest.mark.parametrize("method", ["missing", "init", "__zc_g0", "memory"])
def test_unknown_methods_are_refused(vm: VirtualMachine, method: str) -> None:
    state = DictState()
    deploy(vm, state, TOKEN_WAT)
    outcome = call(vm, state, method)
    assert error_code(outcome) == "method_not_found" and outcome.gas_used == 0


def test_missing_contract_and_existing_address(vm: VirtualMachine) -> None:
    state = DictState()
    assert error_code(call(vm, state, "noop", contract=OTHER)) == "contract_not_found"
    deploy(vm, state, TOKEN_WAT)
    again = vm.deploy(wasm(TOKEN_WAT), b"", context(), state, GAS)
    assert error_code(again) == "contract_exists" and again.writes == {}


def test_frozen_contract_refuses_calls_but_answers_queries(vm: VirtualMachine) -> None:
    state = DictState()
    deploy(vm, state, TOKEN_WAT)
    meta = ContractMetadata.decode(state.items[contract_meta_key(TOKEN)])
    frozen = ContractMetadata(meta.code_hash, meta.zone, meta.deployer, frozen=True)
    state.items[contract_meta_key(TOKEN)] = frozen.encode()
    assert error_code(call(vm, state, "noop")) == "contract_frozen"
    assert vm.query("noop", b"", context(), state, GAS).ok


def test_rejected_code_keeps_the_gatekeeper_code(vm: VirtualMachine) -> None:
    bad = '(module (import "env" "x" (func)) (memory (export "memory") 1))'
    outcome = vm.deploy(wasm(bad), b"", context(), DictState(), GAS)
    assert not outcome.ok and outcome.writes == {}
    assert outcome.error is not None and outcome.error.code not in ("contract_error", "")
    garbage = vm.deploy(b"\x00asm garbage", b"", context(), DictState(), GAS)
    assert not garbage.ok and garbage.error is not None


INIT_WAT = f"""
(module
  {imports("input_read", "storage_write", "abort")}
  (memory (export "memory") 1)
  (data (i32.const 0) "owner")
  (func (export "init")
    (if (i32.ne (call $input_read (i32.const 32) (i32.const 20)) (i32.const 20))
      (then (call $abort (i32.const 0) (i32.const 5))))
    (call $storage_write (i32.const 0) (i32.const 5) (i32.const 32) (i32.const 20)))
  (func (export "noop")))
"""


def test_init_runs_at_deploy_and_its_failure_undoes_the_deploy(vm: VirtualMachine) -> None:
    state = DictState()
    ok = deploy(vm, state, INIT_WAT, init_args=BOB)
    assert ok.ok and state.items[b"s" + TOKEN + b"owner"] == BOB
    failed = vm.deploy(wasm(INIT_WAT), b"short", context(OTHER), state, GAS)
    assert error_code(failed) == "aborted" and failed.writes == {}


def test_gas_limit_must_be_in_range(vm: VirtualMachine) -> None:
    with pytest.raises(ValueError, match="gas limit"):
        vm.call("noop", b"", context(), DictState(), -1)


def test_input_limit(vm: VirtualMachine) -> None:
    state = DictState()
    deploy(vm, state, TOKEN_WAT)
    outcome = call(vm, state, "noop", b"\x00" * (128 * 1024 + 1))
    assert error_code(outcome) == "input_too_large"


LEAK_WAT = f"""
(module
  {imports("return_data")}
  (memory (export "memory") 1)
  (global $counter (mut i32) (i32.const 0))
  (data (i32.const 0) "\\01")
  ;; each call: increments the global and the byte at 0, returns both
  (func (export "bump")
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (i32.store8 (i32.const 0) (i32.add (i32.load8_u (i32.const 0)) (i32.const 1)))
    (i32.store (i32.const 4) (global.get $counter))
    (call $return_data (i32.const 0) (i32.const 8)))
  (func (export "spin") (loop $forever
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (i32.store8 (i32.const 0) (i32.const 99))
    (br $forever))))
"""


def test_no_state_leaks_between_calls(vm: VirtualMachine) -> None:
    """Memory and mutable globals are restored after every call, even a failed one."""
    state = DictState()
    deploy(vm, state, LEAK_WAT)
    expected = b"\x02\x00\x00\x00\x01\x00\x00\x00"
    for _ in range(3):
        assert call(vm, state, "bump").return_data == expected
        assert error_code(call(vm, state, "spin", gas_limit=50_000)) == "out_of_gas"
    assert call(vm, state, "bump").return_data == expected


def test_two_addresses_with_one_code_share_nothing(vm: VirtualMachine) -> None:
    state = DictState()
    deploy(vm, state, TOKEN_WAT, contract=TOKEN)
    deploy(vm, state, TOKEN_WAT, contract=OTHER)
    call(vm, state, "mint", ALICE + amount(3), contract=TOKEN)
    balance = vm.query("balance", ALICE, context(OTHER), state, GAS)
    assert balance.return_data == amount(0)


class FailingState(DictState):
    """A state whose reads of contract storage fail like a broken disk."""

    def get(self, key: bytes) -> bytes | None:
        if key.startswith(b"s"):
            raise OSError("disk on fire")
        return super().get(key)


def test_io_failure_in_a_host_function_is_a_node_fault(vm: VirtualMachine) -> None:
    state = DictState()
    deploy(vm, state, TOKEN_WAT)
    broken = FailingState(state.items)
    with pytest.raises(NodeFault, match="disk on fire"):
        vm.call("transfer", transfer_args(ALICE, BOB, 1), context(), broken, GAS)
    assert call(vm, state, "noop").ok  # the VM is still usable afterwards


GROW_WAT = f"""
(module
  {imports("return_data")}
  (memory (export "memory") 1)
  ;; returns the page count seen at entry and the byte at 70000 (in page 2 if it exists)
  (func (export "grow_and_look")
    (i32.store (i32.const 0) (memory.size))
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 4) (i32.load8_u (i32.const 70000)))
    (i32.store8 (i32.const 70000) (i32.const 42))
    (call $return_data (i32.const 0) (i32.const 8))))
"""


def test_grown_memory_does_not_survive_the_call(vm: VirtualMachine) -> None:
    state = DictState()
    deploy(vm, state, GROW_WAT)
    for _ in range(3):
        outcome = call(vm, state, "grow_and_look")
        assert outcome.ok and outcome.return_data == b"\x01\x00\x00\x00\x00\x00\x00\x00"
