"""WAT fixtures and helpers shared by the gatekeeper and instrumenter tests.

``contract(body)`` wraps module fields in the minimum a contract needs (an
exported memory); ``run_instrumented`` instantiates an instrumented module with
plain wasmtime, defining the two internal imports itself (``stack_exceeded``
raises ``StackExceeded``; ``memory_grow`` grows the memory and records the
request).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import wasmtime

from zonechain.vm import abi
from zonechain.vm.engine import make_config

MEMORY = '(memory (export "memory") 1 16)'


def contract(fields: str, memory: str = MEMORY) -> bytes:
    """A module with ``fields`` plus an exported memory, as binary."""
    return bytes(wasmtime.wat2wasm(f"(module {fields} {memory})"))


def module(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


class StackExceeded(Exception):
    """Raised by the test's stack_exceeded import."""


@dataclass
class Harness:
    store: wasmtime.Store
    instance: wasmtime.Instance
    grow_requests: list[int] = field(default_factory=list)

    def call(self, name: str, *args: int) -> object:
        export = self.instance.exports(self.store)[name]
        assert isinstance(export, wasmtime.Func)
        return export(self.store, *args)

    def global_value(self, name: str) -> object:
        export = self.instance.exports(self.store)[name]
        assert isinstance(export, wasmtime.Global)
        return export.value(self.store)


FUEL = 10**12
"""The VM's engine meters fuel; the tests here are about the stack, not gas."""


def make_engine(native_stack_bytes: int | None = None) -> wasmtime.Engine:
    """An engine with the VM's configuration, optionally another native stack limit."""
    config = make_config()
    if native_stack_bytes is not None:
        config.max_wasm_stack = native_stack_bytes
    return wasmtime.Engine(config)


def run_instrumented(code: bytes, engine: wasmtime.Engine | None = None) -> Harness:
    engine = engine or make_engine()
    store = wasmtime.Store(engine)
    store.set_fuel(FUEL)
    linker = wasmtime.Linker(engine)
    requests: list[int] = []
    memory_holder: list[wasmtime.Memory] = []

    def stack_exceeded() -> None:
        raise StackExceeded()

    def memory_grow(pages: int) -> int:
        requests.append(pages)
        memory = memory_holder[0]
        old = memory.size(store)
        try:
            memory.grow(store, pages)
        except wasmtime.WasmtimeError:
            return -1
        return int(old)

    i32 = wasmtime.ValType.i32()
    linker.define_func(abi.INTERNAL_MODULE, "stack_exceeded", wasmtime.FuncType([], []),
                       stack_exceeded)
    linker.define_func(abi.INTERNAL_MODULE, "memory_grow", wasmtime.FuncType([i32], [i32]),
                       memory_grow)
    instance = linker.instantiate(store, wasmtime.Module(engine, code))
    memory = instance.exports(store)[abi.MEMORY_EXPORT]
    assert isinstance(memory, wasmtime.Memory)
    memory_holder.append(memory)
    return Harness(store, instance, requests)


def run_plain(code: bytes, engine: wasmtime.Engine | None = None) -> Harness:
    """Instantiate an uninstrumented module that has no imports."""
    engine = engine or make_engine()
    store = wasmtime.Store(engine)
    store.set_fuel(FUEL)
    instance = wasmtime.Instance(store, wasmtime.Module(engine, code), [])
    return Harness(store, instance)


# --- frame shapes for the stack-bound tests ----------------------------------
# Each is a contract whose "run" enters $r, which counts its depth in global 0
# (exported by the instrumenter as __zc_g0) and recurses without end.

WIDE = 1000
HOISTED = 2000


def _recursion(params: str, prologue: str, call_args: str, epilogue: str, entry_args: str,
               extra_locals: str = "") -> bytes:
    return contract(f"""
      (global $depth (mut i32) (i32.const 0))
      (global $sink (mut i64) (i64.const 0))
      (func $r {params} {extra_locals}
        (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
        {prologue}
        (call $r {call_args})
        {epilogue})
      (func (export "run") (call $r {entry_args}))""")


def shape_trivial() -> bytes:
    return _recursion("(param i32)", "", "(local.get 0)", "", "(i32.const 0)")


def shape_live_locals() -> bytes:
    """WIDE distinct i64 locals, all live across the recursive call."""
    sets = " ".join(f"(local.set {i + 1} (i64.load offset={8 * i} (local.get 0)))"
                    for i in range(WIDE))
    uses = " ".join(f"(local.get {i + 1}) i64.add" for i in range(WIDE))
    return _recursion("(param i32)", sets, "(local.get 0)",
                      f"(i64.const 0) {uses} (global.set $sink)", "(i32.const 0)",
                      extra_locals=" ".join(["(local i64)"] * WIDE))


def shape_deep_operand_stack() -> bytes:
    """WIDE distinct values on the operand stack across the recursive call."""
    pushes = " ".join(f"(i64.load offset={8 * i} (local.get 0))" for i in range(WIDE))
    adds = " ".join(["i64.add"] * (WIDE - 1))
    return _recursion("(param i32)", pushes, "(local.get 0)", f"{adds} (global.set $sink)",
                      "(i32.const 0)")


def shape_many_params() -> bytes:
    count = 64
    args = " ".join(f"(i64.add (local.get {i}) (i64.const 1))" for i in range(count))
    zeros = " ".join(["(i64.const 0)"] * count)
    return _recursion(" ".join(["(param i64)"] * count), "", args, "", zeros)


def shape_hoisted_values() -> bytes:
    """Loop-invariant values Cranelift hoists out of the loop, alive across the call."""
    uses = " ".join(
        f"(global.set $sink (i64.extend_i32_u (i32.mul (local.get 0) (i32.const {i + 3}))))"
        for i in range(HOISTED)
    )
    return _recursion("(param i32)", f"(loop $again (call $r (local.get 0)) {uses} "
                      "(br_if $again (i32.wrap_i64 (global.get $sink))))",
                      "(local.get 0)", "", "(i32.const 7)")


SHAPES = {
    "trivial": shape_trivial,
    "live_locals": shape_live_locals,
    "deep_operand_stack": shape_deep_operand_stack,
    "many_params": shape_many_params,
    "hoisted_values": shape_hoisted_values,
}


# --- hand-built binaries (for what wat2wasm will not write) -------------------

def binary(*sections: tuple[int, bytes]) -> bytes:
    """A module from (section id, payload) pairs, in the order given."""
    from zonechain.vm.wasm.writer import encode_section

    return b"\x00asm\x01\x00\x00\x00" + b"".join(encode_section(i, p) for i, p in sections)


def split_sections(code: bytes) -> list[tuple[int, bytes]]:
    """The (id, payload) pairs of a well-formed module (test helper, minimal LEB)."""
    out: list[tuple[int, bytes]] = []
    position = 8
    while position < len(code):
        section_id = code[position]
        position += 1
        size = 0
        shift = 0
        while True:
            byte = code[position]
            position += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        out.append((section_id, code[position:position + size]))
        position += size
    return out
