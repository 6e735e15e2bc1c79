"""The deterministic stack: recursion stops at exactly the depth the budget gives.

Every frame shape of tests/vm/wat (trivial, 1,000 live locals, 1,000 operand
values, 64 params, 2,000 values Cranelift hoists) recurses without end; the
instrumented module must be stopped by the meter (our ``stack_exceeded``), never
by wasmtime's native limit, at depth (STACK_BUDGET_UNITS - W(run)) // W(r), and
at that same depth in processes with different thread stacks and different
native limits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

from tests.vm.wat import SHAPES, StackExceeded, make_engine, run_instrumented, run_plain
from zonechain.vm import limits
from zonechain.vm.engine import WASM_STACK_BYTES
from zonechain.vm.gatekeeper import check, prepare
from zonechain.vm.instrument import instrument

ROOT = Path(__file__).resolve().parents[2]


def expected_depth(code: bytes) -> int:
    weights = instrument(check(code)).frame_weights  # [$r, run]
    return (limits.STACK_BUDGET_UNITS - weights[1]) // weights[0]


def depth_reached(code: bytes, native_stack_bytes: int) -> int:
    harness = run_instrumented(prepare(code).code, make_engine(native_stack_bytes))
    with pytest.raises(StackExceeded):
        harness.call("run")
    depth = harness.global_value("__zc_g0")
    assert isinstance(depth, int)
    return depth


@pytest.mark.parametrize("shape", SHAPES.keys())
def test_meter_stops_recursion_before_the_native_limit(shape: str) -> None:
    code = SHAPES[shape]()
    assert depth_reached(code, WASM_STACK_BYTES) == expected_depth(code)


def test_without_instrumentation_the_native_limit_is_hit() -> None:
    harness = run_plain(SHAPES["trivial"](), make_engine(WASM_STACK_BYTES))
    with pytest.raises(wasmtime.Trap) as caught:
        harness.call("run")
    assert caught.value.trap_code == wasmtime.TrapCode.STACK_OVERFLOW


def test_indirect_recursion_is_metered_with_the_table_weight() -> None:
    code = bytes(wasmtime.wat2wasm("""(module (memory (export "memory") 1)
      (type $t (func (param i32)))
      (global $depth (mut i32) (i32.const 0))
      (table 1 funcref) (elem (i32.const 0) $r)
      (func $r (type $t)
        (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
        (call_indirect (type $t) (local.get 0) (i32.const 0)))
      (func (export "run") (call $r (i32.const 0))))"""))
    assert depth_reached(code, WASM_STACK_BYTES) == expected_depth(code)


CHILD = """
import json, sys, threading, hashlib
import wasmtime
from tests.vm.wat import SHAPES, StackExceeded, make_engine, run_instrumented
from zonechain.vm.gatekeeper import prepare

thread_stack, native_stack = int(sys.argv[1]), int(sys.argv[2])
threading.stack_size(thread_stack)
report = {}

def work():
    for name, build in SHAPES.items():
        prepared = prepare(build())
        harness = run_instrumented(prepared.code, make_engine(native_stack))
        try:
            harness.call("run")
            how = "returned"
        except StackExceeded:
            how = "meter"
        except wasmtime.Trap as trap:
            how = "trap " + str(trap.trap_code)
        report[name] = [how, harness.global_value("__zc_g0"),
                        hashlib.sha256(prepared.code).hexdigest()]

thread = threading.Thread(target=work)
thread.start()
thread.join()
print(json.dumps(report, sort_keys=True))
"""


def run_child(thread_stack_bytes: int, native_stack_bytes: int) -> dict[str, list[object]]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(thread_stack_bytes), str(native_stack_bytes)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, list[object]] = json.loads(result.stdout)
    return report


def test_same_depth_in_processes_with_different_stacks() -> None:
    small = run_child(4 * 1024 * 1024, WASM_STACK_BYTES // 2)
    large = run_child(32 * 1024 * 1024, WASM_STACK_BYTES)
    assert small == large
    for name, build in SHAPES.items():
        how, depth, _ = small[name]
        assert how == "meter"
        assert depth == expected_depth(build())
