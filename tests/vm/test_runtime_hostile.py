"""Hostile contracts: each ends with an exact, deterministic outcome and leaves state as it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vm.runtime_support import (
    TOKEN_WAT,
    call,
    deploy,
    error_code,
    imports,
    param_names,
    probe_args,
    probe_wat,
)
from zonechain.vm import abi, limits
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import DictState

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def vm() -> VirtualMachine:
    return VirtualMachine()


HOSTILE_WAT = f"""
(module
  {imports("storage_write", "return_data", "abort")}
  (memory (export "memory") 1)
  (data (i32.const 0) "kkkk")
  (func (export "spin") (loop $forever (br $forever)))
  (func (export "grow_bomb")
    (loop $again (br_if $again (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))))
  (func (export "grow_past_max")
    (if (i32.ne (memory.grow (i32.const {limits.MEMORY_PAGES_MAX})) (i32.const -1))
      (then unreachable)))
  (func (export "write_loop") (local $i i32)
    (loop $again
      (i32.store (i32.const 0) (local.get $i))
      (call $storage_write (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 4))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again)))
  (func $recurse (param i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "recursion_bomb") (drop (call $recurse (i32.const 0))))
  (func (export "huge_return")
    (call $return_data (i32.const 0) (i32.const {limits.RETURN_DATA_BYTES_MAX + 1})))
  (func (export "abort_long") (call $abort (i32.const 0) (i32.const 60000)))
  (func (export "divide_by_zero") (drop (i32.div_u (i32.const 1) (i32.const 0))))
  (func (export "out_of_bounds_load") (drop (i32.load (i32.const 70000)))))
"""


def deployed(vm: VirtualMachine) -> DictState:
    state = DictState()
    assert deploy(vm, state, HOSTILE_WAT).ok
    assert deploy(vm, state, TOKEN_WAT, contract=b"\xd0" * 20).ok
    return state


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("spin", "out_of_gas"),
        ("grow_bomb", "out_of_gas"),
        ("write_loop", "out_of_gas"),
        ("recursion_bomb", "stack_overflow"),
        ("huge_return", "return_data_too_large"),
        ("divide_by_zero", "integer_division_by_zero"),
        ("out_of_bounds_load", "memory_out_of_bounds"),
    ],
)
def test_hostile_call_ends_deterministically(vm: VirtualMachine, method: str, code: str) -> None:
    state = deployed(vm)
    before = dict(state.items)
    gas_limit = 2_000_000
    outcome = call(vm, state, method, gas_limit=gas_limit)
    assert error_code(outcome) == code
    assert outcome.writes == {} and outcome.events == ()
    if code == "out_of_gas":
        assert outcome.gas_used == gas_limit
    assert state.items == before
    again = call(vm, state, method, gas_limit=gas_limit)
    assert (again.gas_used, error_code(again)) == (outcome.gas_used, code)
    assert call(vm, state, "noop", contract=b"\xd0" * 20).ok  # the VM still works


def test_grow_past_the_limit_returns_minus_one(vm: VirtualMachine) -> None:
    state = deployed(vm)
    assert call(vm, state, "grow_past_max").ok


def test_abort_message_is_truncated(vm: VirtualMachine) -> None:
    state = deployed(vm)
    outcome = call(vm, state, "abort_long")
    assert error_code(outcome) == "aborted" and outcome.error is not None
    assert len(outcome.error.message.encode()) == limits.ABORT_MESSAGE_BYTES_MAX


RECURSION_SCRIPT = """
import sys, threading, wasmtime
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import DictState
from tests.vm.runtime_support import call, deploy
from tests.vm.test_runtime_hostile import HOSTILE_WAT
threading.stack_size(int(sys.argv[1]))
result = []
def run():
    vm = VirtualMachine(); state = DictState(); deploy(vm, state, HOSTILE_WAT)
    outcome = call(vm, state, "recursion_bomb", gas_limit=50_000_000)
    result.append((outcome.error.code, outcome.gas_used))
thread = threading.Thread(target=run); thread.start(); thread.join()
print(result[0])
"""


@pytest.mark.slow
def test_recursion_stops_at_the_same_depth_whatever_the_thread_stack() -> None:
    outputs = []
    for stack_bytes in (16 * 1024 * 1024, 96 * 1024 * 1024):
        done = subprocess.run(
            [sys.executable, "-c", RECURSION_SCRIPT, str(stack_bytes)], cwd=ROOT,
            capture_output=True, text=True, timeout=120, check=True)
        outputs.append(done.stdout.strip())
    assert outputs[0] == outputs[1]
    assert outputs[0].startswith("('stack_overflow',")


POINTER_OUT_OF_BOUNDS = 0xFFFF_FFF0
SMALL_LENGTH = 8


def out_of_bounds_args(function: abi.HostFunction) -> list[int]:
    values = []
    for name in param_names(function):
        values.append(POINTER_OUT_OF_BOUNDS if name == "ptr" or name.endswith("_ptr")
                      else SMALL_LENGTH)
    return values


POINTER_FUNCTIONS = [f for f in abi.HOST_FUNCTIONS_V1
                     if any(n == "ptr" or n.endswith("_ptr") for n in param_names(f))]


@pytest.fixture(scope="module")
def probe_state(vm: VirtualMachine) -> DictState:
    state = DictState()
    assert deploy(vm, state, probe_wat()).ok
    return state


@pytest.mark.parametrize("function", POINTER_FUNCTIONS, ids=lambda f: f.name)
def test_every_pointer_is_bounds_checked(
    vm: VirtualMachine, probe_state: DictState, function: abi.HostFunction
) -> None:
    outcome = call(vm, probe_state, f"p_{function.name}", probe_args(out_of_bounds_args(function)))
    assert error_code(outcome) == "memory_out_of_bounds"
    assert outcome.error is not None and "0x" not in outcome.error.message


ALLOWED_CODES = {
    None, "memory_out_of_bounds", "aborted", "storage_key_too_large", "storage_value_too_large",
    "return_data_too_large", "event_too_large", "input_too_large", "out_of_gas",
}
POINTERISH = st.one_of(
    st.integers(0, 70_000), st.integers(0xFFFF_0000, 0xFFFF_FFFF), st.sampled_from([-1, 65_528]))


@settings(max_examples=150)
@given(
    function=st.sampled_from(abi.HOST_FUNCTIONS_V1),
    values=st.lists(POINTERISH, min_size=6, max_size=6),
)
def test_host_functions_never_escape_with_python_errors(
    vm: VirtualMachine, probe_state: DictState, function: abi.HostFunction, values: list[int]
) -> None:
    args = probe_args(values[: len(function.params)])
    first = call(vm, probe_state, f"p_{function.name}", args, gas_limit=5_000_000)
    assert error_code(first) in ALLOWED_CODES
    second = call(vm, probe_state, f"p_{function.name}", args, gas_limit=5_000_000)
    assert (first.ok, first.gas_used, error_code(second)) == (
        second.ok, second.gas_used, error_code(first))
