"""The instrumenter's rewrite: imports, index shifts, globals, memory.grow, determinism."""

from __future__ import annotations

import hashlib

import pytest
import wasmtime

from tests.vm.wat import StackExceeded, contract, run_instrumented
from zonechain.vm import abi, limits
from zonechain.vm.gatekeeper import check, prepare
from zonechain.vm.instrument import (
    GLOBAL_EXPORT_PREFIX,
    MEMORY_GROW_IMPORT,
    STACK_EXCEEDED_IMPORT,
    instrument,
)

HOSTED = contract(f"""
  (import "{abi.HOST_MODULE}" "gas_left" (func $gas (result i64)))
  (import "{abi.HOST_MODULE}" "return_data" (func $ret (param i32 i32)))
  (type $unary (func (param i32) (result i32)))
  (global $calls (mut i32) (i32.const 0))
  (global $fixed i32 (i32.const 7))
  (global $wide (mut i64) (i64.const 0))
  (table 2 funcref)
  (func $double (type $unary) (i32.mul (local.get 0) (i32.const 2)))
  (func $square (type $unary) (i32.mul (local.get 0) (local.get 0)))
  (elem (i32.const 0) $double $square)
  (func (export "compute")
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store (i32.const 0) (call $double (i32.const 21)))
    (i32.store (i32.const 4) (call_indirect (type $unary) (i32.const 9) (i32.const 1)))
    (i32.store (i32.const 8) (memory.grow (i32.const 2)))
    (i32.store (i32.const 12) (memory.size)))
  (func (export "uses_host") (drop (call $gas)) (call $ret (i32.const 0) (i32.const 0)))
  (func (export "trap_inside") (drop (call $double (i32.const 1))) (unreachable))
""")


def host_stubs(linker: wasmtime.Linker) -> None:
    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    linker.define_func(abi.HOST_MODULE, "gas_left", wasmtime.FuncType([], [i64]), lambda: 5)
    linker.define_func(abi.HOST_MODULE, "return_data", wasmtime.FuncType([i32, i32], []),
                       lambda pointer, length: None)


def hosted_harness() -> tuple[wasmtime.Store, wasmtime.Instance, list[int]]:
    prepared = prepare(HOSTED)
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    host_stubs(linker)
    grows: list[int] = []

    def memory_grow(pages: int) -> int:
        grows.append(pages)
        memory = instance_holder[0].exports(store)["memory"]
        assert isinstance(memory, wasmtime.Memory)
        old = int(memory.size(store))
        memory.grow(store, pages)
        return old

    def stack_exceeded() -> None:
        raise StackExceeded()

    i32 = wasmtime.ValType.i32()
    linker.define_func(abi.INTERNAL_MODULE, STACK_EXCEEDED_IMPORT, wasmtime.FuncType([], []),
                       stack_exceeded)
    linker.define_func(abi.INTERNAL_MODULE, MEMORY_GROW_IMPORT,
                       wasmtime.FuncType([i32], [i32]), memory_grow)
    instance_holder: list[wasmtime.Instance] = []
    instance_holder.append(linker.instantiate(store, wasmtime.Module(engine, prepared.code)))
    return store, instance_holder[0], grows


def call(store: wasmtime.Store, instance: wasmtime.Instance, name: str) -> None:
    function = instance.exports(store)[name]
    assert isinstance(function, wasmtime.Func)
    function(store)


def read_i32s(store: wasmtime.Store, instance: wasmtime.Instance, count: int) -> list[int]:
    memory = instance.exports(store)["memory"]
    assert isinstance(memory, wasmtime.Memory)
    raw = memory.read(store, 0, 4 * count)
    return [int.from_bytes(raw[i:i + 4], "little", signed=True) for i in range(0, len(raw), 4)]


def test_imports_are_appended_after_host_imports() -> None:
    module = wasmtime.Module(wasmtime.Engine(), prepare(HOSTED).code)
    names = [(entry.module, entry.name) for entry in module.imports]
    assert names == [
        (abi.HOST_MODULE, "gas_left"), (abi.HOST_MODULE, "return_data"),
        (abi.INTERNAL_MODULE, STACK_EXCEEDED_IMPORT), (abi.INTERNAL_MODULE, MEMORY_GROW_IMPORT),
    ]


def test_mutable_globals_and_meter_are_exported_in_index_order() -> None:
    prepared = prepare(HOSTED)
    # globals: 0 $calls (mut), 1 $fixed, 2 $wide (mut), 3 the meter
    assert prepared.global_exports == (
        f"{GLOBAL_EXPORT_PREFIX}0", f"{GLOBAL_EXPORT_PREFIX}2", f"{GLOBAL_EXPORT_PREFIX}3",
    )
    assert all(name.startswith(abi.RESERVED_EXPORT_PREFIX) for name in prepared.global_exports)
    exports = {e.name: e.type for e in wasmtime.Module(wasmtime.Engine(), prepared.code).exports}
    for name in prepared.global_exports:
        global_type = exports[name]
        assert isinstance(global_type, wasmtime.GlobalType)
        assert global_type.mutable


def test_rewritten_module_computes_the_same_results() -> None:
    store, instance, grows = hosted_harness()
    call(store, instance, "compute")
    assert read_i32s(store, instance, 4) == [42, 81, 1, 3]
    assert grows == [2]  # memory.grow went through the internal import
    call(store, instance, "uses_host")
    calls = instance.exports(store)[f"{GLOBAL_EXPORT_PREFIX}0"]
    assert isinstance(calls, wasmtime.Global)
    assert calls.value(store) == 1


def test_meter_returns_to_zero_after_a_call_and_is_left_set_by_a_trap() -> None:
    store, instance, _ = hosted_harness()
    meter = instance.exports(store)[f"{GLOBAL_EXPORT_PREFIX}3"]
    assert isinstance(meter, wasmtime.Global)
    call(store, instance, "compute")
    assert meter.value(store) == 0
    with pytest.raises(wasmtime.Trap):
        call(store, instance, "trap_inside")
    assert meter.value(store) > 0  # the runtime restores globals before the next call
    meter.set_value(store, 0)
    call(store, instance, "compute")
    assert meter.value(store) == 0


def test_memory_grow_is_replaced_one_for_one() -> None:
    code = contract('(func (export "run") (drop (memory.grow (i32.const 1))) '
                    "(drop (memory.grow (i32.const 0))))")
    harness = run_instrumented(prepare(code).code)
    harness.call("run")
    assert harness.grow_requests == [1, 0]


def test_custom_sections_are_dropped_and_original_hash_kept() -> None:
    prepared = prepare(HOSTED)
    assert b"name" in HOSTED  # wat2wasm writes a name section
    assert prepared.code_hash == hashlib.sha256(HOSTED).digest()
    module = wasmtime.Module(wasmtime.Engine(), prepared.code)
    assert [e.name for e in module.exports][:3] == ["compute", "uses_host", "trap_inside"]
    assert b"\x00\x04name" not in prepared.code


def test_instrumentation_is_deterministic() -> None:
    first = prepare(HOSTED)
    second = prepare(bytes(bytearray(HOSTED)))
    assert first == second
    assert instrument(check(HOSTED)).code == first.code


def test_frame_weights_follow_the_model() -> None:
    info = check(contract("""
      (func $leaf (param i32 i64) (result i32) (local f64 f64 f64)
        (i32.add (local.get 0) (i32.const 1)))
      (func (export "run") (drop (call $leaf (i32.const 1) (i64.const 2))))"""))
    leaf = info.bodies[0]
    assert leaf.max_stack_height == 2
    assert leaf.value_count == 2  # i32.const and i32.add; local.get pushes an existing value
    weights = instrument(info).frame_weights
    assert weights[0] == limits.FRAME_WEIGHT_OVERHEAD_UNITS + 2 + 3 + 2 + 2


def test_one_function_under_two_names_and_init_get_wrappers() -> None:
    code = contract("""
      (global $count (mut i32) (i32.const 0))
      (func $bump (global.set $count (i32.add (global.get $count) (i32.const 1))))
      (export "first" (func $bump)) (export "second" (func $bump))
      (func (export "init") (call $bump))""")
    prepared = prepare(code)
    assert prepared.methods == ("first", "second")
    assert prepared.has_init
    harness = run_instrumented(prepared.code)
    for name in ("first", "second", "init"):
        harness.call(name)
    assert harness.global_value(f"{GLOBAL_EXPORT_PREFIX}0") == 3  # each entry bumped once
    assert harness.global_value(f"{GLOBAL_EXPORT_PREFIX}1") == 0  # the meter is back to 0


def test_indirect_call_to_a_type_the_table_lacks_still_traps() -> None:
    code = contract("""
      (type $other (func (param i64)))
      (table 1 funcref) (func $f) (elem (i32.const 0) $f)
      (func (export "run") (call_indirect (type $other) (i64.const 1) (i32.const 0)))""")
    harness = run_instrumented(prepare(code).code)
    with pytest.raises(wasmtime.Trap) as caught:
        harness.call("run")
    assert caught.value.trap_code == wasmtime.TrapCode.BAD_SIGNATURE
