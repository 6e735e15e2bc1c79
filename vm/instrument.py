"""Deploy-time rewriting: a deterministic stack limit and metered memory growth.

wasmtime's native stack limit depends on the machine, the build and the
compiler's frame layout, so where it stops a deep recursion is not part of any
protocol. The instrumenter makes the recursion limit a property of the code.

What the rewritten module does (call-site instrumentation):
- One new mutable i32 global, the stack meter, starts at 0.
- Every ``call f`` to a function defined in the module becomes

      meter += W(f); if meter > STACK_BUDGET_UNITS: call stack_exceeded; unreachable
      call f
      meter -= W(f)

  and ``call_indirect`` uses the largest W over the table's functions of the
  called type (the table cannot change after instantiation: every
  table-mutating instruction is refused at deploy); when none has that type
  the call traps anyway and is left as is. Calls to host imports are not
  metered: they do not re-enter this instance's functions.
- Every exported method gets an entry wrapper, exported under the method's
  name: ``meter += W(m)`` (checked the same way), ``call m``, ``meter -= W(m)``.
  So the entry frame is metered too, and a function whose weight alone is
  above the budget can never run (deterministically).
- Every ``memory.grow`` becomes ``call memory_grow`` ([i32] -> [i32]: the same
  stack shape, so a 1:1 replacement); the runtime charges gas per page.
- Both are imports of ``abi.INTERNAL_MODULE`` appended after the host imports
  (``stack_exceeded`` [] -> [] then ``memory_grow``), which shifts every defined
  function's index by two: calls, exports and element segments are fixed up;
  the wrappers are appended after the defined functions; custom sections
  (names, debug info) are dropped.
- Every mutable global, the meter included (the last global), is exported as
  ``RESERVED_EXPORT_PREFIX + "g" + <global index>``, listed in
  ``global_exports``, so the runtime can save their values after instantiation
  and restore them before each reused call (a trapped call leaves the meter
  wherever it was).

The frame weight. W(f) = FRAME_WEIGHT_OVERHEAD_UNITS + params + locals + max
operand-stack height + the number of values f's instructions produce (see
zonechain.vm.wasm.code), one unit per value (at most 8 bytes: no v128). The
finite-wasm model (overhead + params + locals + stack height) is not enough
for Cranelift: it hoists loop-invariant pure values out of loops and merges
equal ones, so they stay alive (spilled) across a call. A loop holding a
recursive call and 2,000 ``i32.mul (local.get 0) (i32.const k)`` made a
16 KiB native frame for a finite-wasm weight of 20 (measured, wasmtime 50);
counting produced values bounds that (tests/vm/test_instrument_stack.py).

The bound. The meter is checked before each metered call (entry included) and
never exceeds STACK_BUDGET_UNITS after a successful check, so the live frames
of one entry into the instance weigh at most STACK_BUDGET_UNITS in total, plus
the wrapper's own constant frame and whatever host frames sit on top. The
native stack in use is therefore at most STACK_BUDGET_UNITS x B + a constant,
where B is the native bytes Cranelift spends per unit of weight. On the worst
shapes we could build (tests/vm/wat: 1,000 live i64 locals, 1,000 operand-stack
values, 64 i64 params, 2,000 hoisted values, each across a recursive call)
B was at most 4.5 bytes (many_params: 1,229-byte frames for W = 276), so a
whole budget needs at most ~300 KiB of native stack: the engine's native
limit (vm/engine.py WASM_STACK_BYTES, 1 MiB; NATIVE_WASM_STACK_BYTES, 8 MiB,
is the ceiling) leaves a margin of over 3x. tests/vm/test_instrument_stack.py
runs every shape under the engine's 1 MiB limit and asserts that the meter,
not wasmtime, ends the recursion, at exactly depth
(STACK_BUDGET_UNITS - W(entry)) // W(f), in processes with different thread
stacks. Each nested cross-contract call is a new entry with its own meter, so
a thread needs CALL_DEPTH_MAX such slices plus the host frames between them.

Determinism: the output bytes are a pure function of the input bytes (no
unordered iteration; canonical LEB128 everywhere it writes). Same input, same
output, on every node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from zonechain.vm import abi, limits
from zonechain.vm.errors import DeployError
from zonechain.vm.wasm.code import (
    SITE_CALL,
    SITE_CALL_INDIRECT,
    SITE_MEMORY_GROW,
    BodyAnalysis,
)
from zonechain.vm.wasm.module import (
    I32,
    KIND_FUNCTION,
    KIND_GLOBAL,
    SECTION_CODE,
    SECTION_DATA,
    SECTION_DATA_COUNT,
    SECTION_ELEMENT,
    SECTION_EXPORT,
    SECTION_FUNCTION,
    SECTION_GLOBAL,
    SECTION_IMPORT,
    SECTION_MEMORY,
    SECTION_TABLE,
    SECTION_TYPE,
    FuncType,
    Module,
)
from zonechain.vm.wasm.writer import (
    encode_name,
    encode_s32,
    encode_section,
    encode_u32,
    encode_vector,
)

if TYPE_CHECKING:
    from zonechain.vm.gatekeeper import ModuleInfo

STACK_EXCEEDED_IMPORT = "stack_exceeded"
MEMORY_GROW_IMPORT = "memory_grow"
INJECTED_IMPORT_COUNT = 2
GLOBAL_EXPORT_PREFIX = abi.RESERVED_EXPORT_PREFIX + "g"
FUNC_TYPE_FORM = 0x60
NO_LOCALS = b"\x00"

OP_UNREACHABLE = b"\x00"
OP_IF_EMPTY = b"\x04\x40"
OP_END = b"\x0b"
OP_CALL = b"\x10"
OP_GLOBAL_GET = b"\x23"
OP_GLOBAL_SET = b"\x24"
OP_I32_CONST = b"\x41"
OP_I32_GT_U = b"\x4b"
OP_I32_ADD = b"\x6a"
OP_I32_SUB = b"\x6b"


class InstrumentationFailed(DeployError):
    """The rewritten module failed validation: a defect of the instrumenter,
    refused deterministically at deploy rather than stored."""

    code = "instrumentation_failed"


@dataclass(frozen=True)
class InstrumentedModule:
    code: bytes
    global_exports: tuple[str, ...]
    frame_weights: tuple[int, ...]  # per defined function of the original module, in order
    meter_global_index: int


def frame_weight(func_type: FuncType, local_count: int, body: BodyAnalysis) -> int:
    """Stack-budget units one activation of a function may occupy (module docstring)."""
    return (limits.FRAME_WEIGHT_OVERHEAD_UNITS + len(func_type.params) + local_count
            + body.max_stack_height + body.value_count)


def instrument(info: ModuleInfo) -> InstrumentedModule:
    """Rewrite a checked module; see the module docstring for what changes."""
    module = info.module
    imported = module.imported_function_count
    weights = tuple(
        frame_weight(info.function_types[imported + number], body.local_count,
                     info.bodies[number])
        for number, body in enumerate(module.bodies)
    )
    layout = _Layout(module)
    rewriter = _Rewriter(info, weights, layout)
    mutable = [index for index, g in enumerate(module.globals) if g.mutable]
    mutable.append(layout.meter)
    sections = [
        encode_section(SECTION_TYPE, _types(module)),
        encode_section(SECTION_IMPORT, _imports(module, layout)),
        encode_section(SECTION_FUNCTION, _functions(module, layout)),
        _raw_section(module, SECTION_TABLE),
        _raw_section(module, SECTION_MEMORY),
        encode_section(SECTION_GLOBAL, _globals(module)),
        encode_section(SECTION_EXPORT, _exports(module, layout, mutable)),
    ]
    if module.elements:
        sections.append(encode_section(SECTION_ELEMENT, _elements(module, layout)))
    sections.append(_raw_section(module, SECTION_DATA_COUNT))
    sections.append(encode_section(SECTION_CODE, rewriter.code_section()))
    sections.append(_raw_section(module, SECTION_DATA))
    code = module.data[:8] + b"".join(sections)
    _validate(code)
    global_exports = tuple(f"{GLOBAL_EXPORT_PREFIX}{index}" for index in mutable)
    return InstrumentedModule(code, global_exports, weights, layout.meter)


class _Layout:
    """Index spaces of the rewritten module."""

    def __init__(self, module: Module) -> None:
        self.imported = module.imported_function_count
        self.void_type = len(module.types)
        self.grow_type = self.void_type + 1
        self.stack_exceeded = self.imported
        self.memory_grow = self.imported + 1
        self.meter = len(module.globals)
        # One entry wrapper per exported function, in order of first export.
        self.wrapped: list[int] = []
        for export in module.exports:
            if export.kind == KIND_FUNCTION and export.index not in self.wrapped:
                self.wrapped.append(export.index)
        first_wrapper = module.function_count + INJECTED_IMPORT_COUNT
        self.wrapper_of = {f: first_wrapper + n for n, f in enumerate(self.wrapped)}

    def shift(self, function_index: int) -> int:
        """The new index of an original function (host imports keep theirs)."""
        if function_index < self.imported:
            return function_index
        return function_index + INJECTED_IMPORT_COUNT


def _validate(code: bytes) -> None:
    from zonechain.vm.gatekeeper import wasmtime_validate
    from zonechain.vm.wasm.errors import InvalidWasm

    try:
        wasmtime_validate(code)
    except InvalidWasm as error:
        raise InstrumentationFailed(f"instrumented module is invalid: {error.message}") from None


def _raw_section(module: Module, section_id: int) -> bytes:
    section = module.section(section_id)
    if section is None:
        return b""
    return encode_section(section_id, module.data[section.start:section.end])


def _value_types(types: tuple[int, ...]) -> bytes:
    return encode_u32(len(types)) + bytes(types)


def _types(module: Module) -> bytes:
    entries = [*module.types, FuncType((), ()), FuncType((I32,), (I32,))]
    return encode_vector(
        bytes((FUNC_TYPE_FORM,)) + _value_types(t.params) + _value_types(t.results)
        for t in entries
    )


def _imports(module: Module, layout: _Layout) -> bytes:
    entries = [(entry.module, entry.name, entry.type_index) for entry in module.imports]
    entries.append((abi.INTERNAL_MODULE, STACK_EXCEEDED_IMPORT, layout.void_type))
    entries.append((abi.INTERNAL_MODULE, MEMORY_GROW_IMPORT, layout.grow_type))
    return encode_vector(
        encode_name(module_name) + encode_name(name) + bytes((KIND_FUNCTION,))
        + encode_u32(type_index)
        for module_name, name, type_index in entries
    )


def _functions(module: Module, layout: _Layout) -> bytes:
    type_indices = [*module.function_type_indices, *([layout.void_type] * len(layout.wrapped))]
    return encode_vector(encode_u32(index) for index in type_indices)


def _globals(module: Module) -> bytes:
    entries = [bytes((g.value_type, 1 if g.mutable else 0)) + g.init for g in module.globals]
    entries.append(bytes((I32, 1)) + OP_I32_CONST + encode_s32(0) + OP_END)
    return encode_vector(entries)


def _exports(module: Module, layout: _Layout, mutable_globals: list[int]) -> bytes:
    entries = []
    for export in module.exports:
        index = layout.wrapper_of[export.index] if export.kind == KIND_FUNCTION else export.index
        entries.append(encode_name(export.name) + bytes((export.kind,)) + encode_u32(index))
    for index in mutable_globals:
        entries.append(encode_name(f"{GLOBAL_EXPORT_PREFIX}{index}") + bytes((KIND_GLOBAL,))
                       + encode_u32(index))
    return encode_vector(entries)


def _elements(module: Module, layout: _Layout) -> bytes:
    entries = []
    for segment in module.elements:
        head = encode_u32(segment.flags)
        if segment.flags == 2:
            head += encode_u32(0) + segment.offset_expr + b"\x00"
        else:
            head += segment.offset_expr
        entries.append(head + encode_vector(
            encode_u32(layout.shift(index)) for index in segment.function_indices
        ))
    return encode_vector(entries)


class _Rewriter:
    """Rewrites function bodies at the call and memory.grow sites the gatekeeper found."""

    def __init__(self, info: ModuleInfo, weights: tuple[int, ...], layout: _Layout) -> None:
        self.info = info
        self.module = info.module
        self.weights = weights
        self.layout = layout
        self.imported = layout.imported
        self.stack_exceeded_call = OP_CALL + encode_u32(layout.stack_exceeded)
        self.memory_grow_call = OP_CALL + encode_u32(layout.memory_grow)
        self.meter_get = OP_GLOBAL_GET + encode_u32(layout.meter)
        self.meter_set = OP_GLOBAL_SET + encode_u32(layout.meter)
        self.budget = OP_I32_CONST + encode_s32(limits.STACK_BUDGET_UNITS)
        self.indirect_weights = self._indirect_weights()

    def _indirect_weights(self) -> dict[int, int]:
        """Largest weight over the table's defined functions, per called type index."""
        by_signature: dict[FuncType, int] = {}
        for segment in self.module.elements:
            for index in segment.function_indices:
                if index < self.imported:
                    continue
                signature = self.info.function_types[index]
                weight = self.weights[index - self.imported]
                by_signature[signature] = max(by_signature.get(signature, 0), weight)
        return {
            type_index: by_signature[func_type]
            for type_index, func_type in enumerate(self.module.types)
            if func_type in by_signature
        }

    def metered_call(self, weight: int, call: bytes) -> bytes:
        """``call`` wrapped in the meter's add-check / subtract sequences."""
        enter = (self.meter_get + OP_I32_CONST + encode_s32(weight) + OP_I32_ADD
                 + self.meter_set + self.meter_get + self.budget + OP_I32_GT_U
                 + OP_IF_EMPTY + self.stack_exceeded_call + OP_UNREACHABLE + OP_END)
        leave = self.meter_get + OP_I32_CONST + encode_s32(weight) + OP_I32_SUB + self.meter_set
        return enter + call + leave

    def code_section(self) -> bytes:
        bodies = [self.body(number) for number in range(len(self.module.bodies))]
        bodies.extend(self.wrapper(function) for function in self.layout.wrapped)
        return encode_vector(bodies)

    def wrapper(self, function_index: int) -> bytes:
        weight = self.weights[function_index - self.imported]
        call = OP_CALL + encode_u32(self.layout.shift(function_index))
        body = NO_LOCALS + self.metered_call(weight, call) + OP_END
        return encode_u32(len(body)) + body

    def body(self, number: int) -> bytes:
        data = self.module.data
        body = self.module.bodies[number]
        out = bytearray(data[body.start:body.locals_end])
        position = body.locals_end
        for start, end, kind, target in self.info.bodies[number].sites:
            out += data[position:start]
            position = end
            if kind == SITE_MEMORY_GROW:
                out += self.memory_grow_call
            elif kind == SITE_CALL and target < self.imported:
                out += data[start:end]
            elif kind == SITE_CALL:
                call = OP_CALL + encode_u32(self.layout.shift(target))
                out += self.metered_call(self.weights[target - self.imported], call)
            elif kind == SITE_CALL_INDIRECT and target in self.indirect_weights:
                out += self.metered_call(self.indirect_weights[target], data[start:end])
            else:
                out += data[start:end]  # no function of this type in the table: it traps
        out += data[position:body.end]
        return encode_u32(len(out)) + bytes(out)
