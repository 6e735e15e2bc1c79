"""Cross-contract calls: nested overlays, failures leave no trace, depth and re-entrancy bounds."""

from __future__ import annotations

import pytest

from tests.vm.runtime_support import call, deploy, error_code, imports
from zonechain.vm import limits
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import DictState

HOP_IMPORTS = imports("input_read", "return_data", "storage_write", "emit_event",
                      "call_contract", "call_result_read", "abort")

# Input: forwarded gas (i64) then a list of 20-byte addresses. "hop" records the
# next address, emits an event, calls "hop" on it with the rest of the list and
# returns [status byte] + the callee's result (or error text).
HOP_WAT = f"""
(module
  {HOP_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0) "hop")
  (func (export "hop") (local $n i32) (local $status i32) (local $length i32)
    (local.set $n (call $input_read (i32.const 1024) (i32.const 4096)))
    (if (i32.lt_u (local.get $n) (i32.const 28))
      (then (call $return_data (i32.const 0) (i32.const 3)) (return)))
    (call $emit_event (i32.const 0) (i32.const 3) (i32.const 1032) (i32.const 20))
    (call $storage_write (i32.const 0) (i32.const 3) (i32.const 1032) (i32.const 20))
    (memory.copy (i32.const 2048) (i32.const 1032) (i32.const 20))
    (i64.store (i32.const 1044) (i64.load (i32.const 1024)))
    (local.set $status (call $call_contract (i32.const 2048) (i32.const 0) (i32.const 3)
      (i32.const 1044) (i32.sub (local.get $n) (i32.const 20)) (i64.load (i32.const 1024))))
    (i32.store8 (i32.const 8192) (local.get $status))
    (local.set $length (call $call_result_read (i32.const 8193) (i32.const 4096)))
    (call $return_data (i32.const 8192) (i32.add (local.get $length) (i32.const 1)))))
"""

FAILING_WAT = f"""
(module
  {HOP_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0) "hopnope")
  (func (export "hop")
    (call $emit_event (i32.const 0) (i32.const 3) (i32.const 0) (i32.const 3))
    (call $storage_write (i32.const 0) (i32.const 3) (i32.const 0) (i32.const 3))
    (call $abort (i32.const 3) (i32.const 4))))
"""

SPIN_WAT = """
(module (memory (export "memory") 1) (func (export "hop") (loop $l (br $l))))
"""

ALL_GAS = (1 << 64) - 1


def address(number: int) -> bytes:
    return bytes([0xA0 + number]) * 20


def hop_input(gas: int, *addresses: bytes) -> bytes:
    return gas.to_bytes(8, "little") + b"".join(addresses)


@pytest.fixture(scope="module")
def vm() -> VirtualMachine:
    return VirtualMachine()


@pytest.fixture
def state(vm: VirtualMachine) -> DictState:
    state = DictState()
    for number in range(limits.CALL_DEPTH_MAX + 2):
        assert deploy(vm, state, HOP_WAT, contract=address(number)).ok
    assert deploy(vm, state, FAILING_WAT, contract=address(20)).ok
    assert deploy(vm, state, SPIN_WAT, contract=address(21)).ok
    return state


def test_successful_nested_call_commits_into_the_caller(
    vm: VirtualMachine, state: DictState
) -> None:
    outcome = call(vm, state, "hop", hop_input(ALL_GAS, address(1)), contract=address(0))
    assert outcome.ok and outcome.return_data == b"\x00hop"
    assert [e.contract for e in outcome.events] == [address(0)]  # callee got < 28 bytes
    assert b"s" + address(0) + b"hop" in outcome.writes


def test_failed_callee_leaves_no_trace_and_caller_continues(
    vm: VirtualMachine, state: DictState
) -> None:
    outcome = call(vm, state, "hop", hop_input(ALL_GAS, address(20)), contract=address(0))
    assert outcome.ok
    assert outcome.return_data == b"\x01aborted: nope"
    assert [e.contract for e in outcome.events] == [address(0)]
    assert not any(key.startswith(b"s" + address(20)) for key in outcome.writes)


def test_forwarded_gas_is_bounded_and_charged(vm: VirtualMachine, state: DictState) -> None:
    forwarded = 100_000
    outcome = call(vm, state, "hop", hop_input(forwarded, address(21)), contract=address(0),
                   gas_limit=1_000_000)
    assert outcome.ok
    assert outcome.return_data == b"\x01out_of_gas: gas limit reached"
    assert forwarded < outcome.gas_used < 1_000_000


def test_reentrancy_is_refused(vm: VirtualMachine, state: DictState) -> None:
    outcome = call(vm, state, "hop", hop_input(ALL_GAS, address(1), address(0)),
                   contract=address(0))
    assert outcome.ok
    assert outcome.return_data.startswith(b"\x00\x01reentrancy: ")


def test_depth_is_bounded(vm: VirtualMachine, state: DictState) -> None:
    chain = [address(n) for n in range(1, limits.CALL_DEPTH_MAX + 2)]
    outcome = call(vm, state, "hop", hop_input(ALL_GAS, *chain), contract=address(0))
    assert outcome.ok
    statuses = outcome.return_data[: limits.CALL_DEPTH_MAX]
    assert statuses == b"\x00" * (limits.CALL_DEPTH_MAX - 1) + b"\x01"
    assert outcome.return_data[limits.CALL_DEPTH_MAX:].startswith(b"call_depth_exceeded: ")
    assert len(outcome.events) == limits.CALL_DEPTH_MAX


def test_query_callees_are_read_only(vm: VirtualMachine, state: DictState) -> None:
    from tests.vm.runtime_support import context

    outcome = vm.query("hop", hop_input(ALL_GAS, address(1)), context(address(0)), state,
                       1_000_000)
    assert error_code(outcome) == "read_only"
