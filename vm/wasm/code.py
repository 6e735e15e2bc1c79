"""Walks a function body's instruction stream: decoding, structure, stack height.

Guarantees: ``walk_body`` decodes every instruction of one body with its exact
immediates (so decoding never desynchronises), checks that blocks nest and that
the body ends with the function's own ``end`` exactly at its last byte, checks
every index it meets (local, global, function, type, label, table, memory)
against the module, and computes the maximum operand-stack height with a
height-tracking stack model (block/loop/if/else/end, branches, ``unreachable``
and ``return`` make the rest of a block polymorphic). It refuses instructions
outside the VM's feature subset with ``ForbiddenFeature`` naming the feature,
and reports the byte span of every ``call``, ``call_indirect`` and
``memory.grow`` so the instrumenter can rewrite them without decoding again.

It also counts the values the body's instructions produce (every pushed value
except ``local.get``/``local.tee``, which push an existing value, plus one per
memory access for its address): an optimising compiler may keep any of them
alive across a call (Cranelift hoists loop-invariant values out of loops and
merges equal pure values), so the count bounds the spill slots of a frame
beyond its locals and operand stack (see vm/instrument.py).

Full type checking is left to wasmtime's validator, which the gatekeeper runs
after these checks.

Determinism: a pure function of the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from zonechain.vm.wasm.errors import ForbiddenFeature, InvalidWasm
from zonechain.vm.wasm.module import F32, F64, I32, I64, FuncType
from zonechain.vm.wasm.reader import ByteReader, describe_value_type_feature

SITE_CALL = 0
SITE_CALL_INDIRECT = 1
SITE_MEMORY_GROW = 2

BLOCK = 0x02
LOOP = 0x03
IF = 0x04
ELSE = 0x05
END = 0x0B
BR = 0x0C
BR_IF = 0x0D
BR_TABLE = 0x0E
RETURN = 0x0F
CALL = 0x10
CALL_INDIRECT = 0x11
UNREACHABLE = 0x00
EMPTY_BLOCK_TYPE = 0x40
NUMERIC_TYPES = frozenset((I32, I64, F32, F64))


def _stack_effects() -> dict[int, tuple[int, int]]:
    """(values popped, values pushed) of every allowed opcode without immediates."""
    effects: dict[int, tuple[int, int]] = {0x01: (0, 0), 0x1A: (1, 0), 0x1B: (3, 1)}
    unary = [0x45, 0x50, *range(0x67, 0x6A), *range(0x79, 0x7C), *range(0x8B, 0x92),
             *range(0x99, 0xA0), *range(0xA7, 0xC5)]
    binary = [*range(0x46, 0x50), *range(0x51, 0x67), *range(0x6A, 0x79),
              *range(0x7C, 0x8B), *range(0x92, 0x99), *range(0xA0, 0xA7)]
    for opcode in unary:
        effects[opcode] = (1, 1)
    for opcode in binary:
        effects[opcode] = (2, 1)
    return effects


STACK_EFFECTS = _stack_effects()
LOADS = frozenset(range(0x28, 0x36))
STORES = frozenset(range(0x36, 0x3F))

FORBIDDEN_OPCODES: dict[int, str] = {
    0x06: "exception handling (try)", 0x07: "exception handling (catch)",
    0x08: "exception handling (throw)", 0x09: "exception handling (rethrow)",
    0x0A: "exception handling (throw_ref)", 0x18: "exception handling (delegate)",
    0x19: "exception handling (catch_all)", 0x1F: "exception handling (try_table)",
    0x12: "tail calls (return_call)", 0x13: "tail calls (return_call_indirect)",
    0x14: "typed function references (call_ref)",
    0x15: "tail calls (return_call_ref)",
    0x1C: "reference types (typed select)", 0x25: "reference types (table.get)",
    0x26: "reference types (table.set)", 0xD0: "reference types (ref.null)",
    0xD1: "reference types (ref.is_null)", 0xD2: "reference types (ref.func)",
    0xD3: "typed function references (ref.as_non_null)",
    0xD4: "typed function references (br_on_null)", 0xD5: "GC (ref.eq)",
    0xD6: "typed function references (br_on_non_null)",
    0xFB: "GC (0xFB instructions)", 0xFD: "SIMD (0xFD instructions)",
    0xFE: "threads (atomic instructions)",
}
FORBIDDEN_MISC: dict[int, str] = {
    8: "bulk memory memory.init (instance state outside memory and globals)",
    9: "bulk memory data.drop (instance state outside memory and globals)",
    12: "bulk memory table.init", 13: "bulk memory elem.drop", 14: "bulk memory table.copy",
    15: "reference types (table.grow)", 16: "reference types (table.size)",
    17: "reference types (table.fill)",
}
MISC_TRUNC_SAT_LAST = 7
MISC_MEMORY_COPY = 10
MISC_MEMORY_FILL = 11


@dataclass(frozen=True)
class ModuleContext:
    """What a body walk needs to know about the rest of the module."""

    types: list[FuncType]
    function_types: list[FuncType]  # every function, imports first
    global_count: int
    has_table: bool
    has_memory: bool


@dataclass(frozen=True)
class BodyAnalysis:
    max_stack_height: int
    value_count: int  # values produced by instructions (see the module docstring)
    # (start offset, end offset, site kind, function or type index), in body order.
    sites: tuple[tuple[int, int, int, int], ...]


class _Frame:
    __slots__ = ("base", "branch_arity", "is_if", "opcode", "params", "results", "unreachable")

    def __init__(self, opcode: int, base: int, params: int, results: int) -> None:
        self.opcode = opcode
        self.base = base
        self.params = params
        self.results = results
        self.branch_arity = params if opcode == LOOP else results
        self.is_if = opcode == IF
        self.unreachable = False


def _block_type(reader: ByteReader, types: list[FuncType]) -> tuple[int, int]:
    """(params, results) of a block type."""
    start = reader.position
    if reader.position >= reader.end:
        reader.byte()  # raises Truncated
    first = reader.data[reader.position]
    if first == EMPTY_BLOCK_TYPE:
        reader.position += 1
        return 0, 0
    if first in NUMERIC_TYPES:
        reader.position += 1
        return 0, 1
    feature = describe_value_type_feature(first)
    if feature is not None:
        raise ForbiddenFeature(feature, reader.location(start))
    index = reader.signed(33)
    if index < 0 or index >= len(types):
        raise reader.invalid(f"block type index {index} out of range", start)
    block_type = types[index]
    return len(block_type.params), len(block_type.results)


def walk_body(
    reader: ByteReader, context: ModuleContext, function_type: FuncType, local_count: int
) -> BodyAnalysis:
    """Walk the instructions in ``reader`` (positioned after the local declarations).

    One flat dispatch loop on purpose, longer than STYLE.md's usual function:
    it runs once per instruction of every deployed body, and splitting it into
    per-opcode functions would add a Python call per instruction.
    """
    data = reader.data
    all_locals = len(function_type.params) + local_count
    frames = [_Frame(BLOCK, 0, 0, len(function_type.results))]
    frame = frames[0]
    height = 0
    max_height = 0
    values = 0
    sites: list[tuple[int, int, int, int]] = []
    effects = STACK_EFFECTS

    def underflow(offset: int) -> InvalidWasm:
        return reader.invalid("operand stack underflow", offset)

    while True:
        start = reader.position
        if start >= reader.end:
            reader.byte()  # raises Truncated: the body ended inside a block
        opcode = data[start]
        reader.position = start + 1
        effect = effects.get(opcode)
        if effect is not None:
            pops, pushes = effect
        elif opcode in LOADS or opcode in STORES:
            _memory_argument(reader, context, start)
            pops, pushes = (1, 1) if opcode in LOADS else (2, 0)
            values += 1  # the address
        elif opcode in (0x20, 0x21, 0x22):  # local.get/set/tee
            index = reader.u32()
            if index >= all_locals:
                raise reader.invalid(f"local index {index} out of range", start)
            pops, pushes = ((0, 1), (1, 0), (1, 1))[opcode - 0x20]
            values -= pushes  # an existing value: cancels the count below
        elif opcode in (0x23, 0x24):  # global.get/set
            index = reader.u32()
            if index >= context.global_count:
                raise reader.invalid(f"global index {index} out of range", start)
            pops, pushes = (0, 1) if opcode == 0x23 else (1, 0)
        elif opcode == 0x41:
            reader.s32()
            pops, pushes = 0, 1
        elif opcode == 0x42:
            reader.s64()
            pops, pushes = 0, 1
        elif opcode in (0x43, 0x44):
            reader.read_bytes(4 if opcode == 0x43 else 8)
            pops, pushes = 0, 1
        elif opcode == CALL:
            index = reader.u32()
            if index >= len(context.function_types):
                raise reader.invalid(f"function index {index} out of range", start)
            callee = context.function_types[index]
            pops, pushes = len(callee.params), len(callee.results)
            sites.append((start, reader.position, SITE_CALL, index))
        elif opcode == CALL_INDIRECT:
            type_index = reader.u32()
            table_offset = reader.position
            if reader.u32() != 0:
                raise ForbiddenFeature("multiple tables (call_indirect table > 0)",
                                       reader.location(table_offset))
            if type_index >= len(context.types) or not context.has_table:
                raise reader.invalid("call_indirect needs a table and a valid type index", start)
            callee = context.types[type_index]
            pops, pushes = len(callee.params) + 1, len(callee.results)
            sites.append((start, reader.position, SITE_CALL_INDIRECT, type_index))
        elif opcode in (0x3F, 0x40):  # memory.size / memory.grow
            _memory_index(reader, context, start)
            pops, pushes = (0, 1) if opcode == 0x3F else (1, 1)
            if opcode == 0x40:
                sites.append((start, reader.position, SITE_MEMORY_GROW, 0))
        elif opcode == 0xFC:
            pops, pushes = _misc_instruction(reader, context, start)
            values += 1 if pushes == 0 else 0  # memory.copy / memory.fill addresses
        elif opcode in (BLOCK, LOOP, IF):
            params, results = _block_type(reader, context.types)
            pops = params + (1 if opcode == IF else 0)
            height -= pops
            if height < frame.base:
                if not frame.unreachable:
                    raise underflow(start)
                height = frame.base
            frame = _Frame(opcode, height, params, results)
            frames.append(frame)
            height += params
            continue
        elif opcode == ELSE:
            if not frame.is_if:
                raise reader.invalid("else without a matching if", start)
            if not frame.unreachable and height != frame.base + frame.results:
                raise reader.invalid("operand stack mismatch at else", start)
            frame.is_if = False
            frame.unreachable = False
            height = frame.base + frame.params
            continue
        elif opcode == END:
            if not frame.unreachable and height != frame.base + frame.results:
                raise reader.invalid("operand stack mismatch at end of block", start)
            frames.pop()
            height = frame.base + frame.results
            max_height = max(max_height, height)
            if not frames:
                if reader.position != reader.end:
                    raise reader.invalid("instructions after the function's final end", start)
                return BodyAnalysis(max_height, values, tuple(sites))
            frame = frames[-1]
            continue
        elif opcode in (BR, BR_IF):
            depth = reader.u32()
            if depth >= len(frames):
                raise reader.invalid(f"branch depth {depth} out of range", start)
            pops, pushes = (0, 0) if opcode == BR else (1, 0)
            if opcode == BR:
                frame.unreachable = True
                height = frame.base
                continue
        elif opcode == BR_TABLE:
            for _ in range(reader.u32() + 1):
                if reader.u32() >= len(frames):
                    raise reader.invalid("br_table depth out of range", start)
            frame.unreachable = True
            height = frame.base
            continue
        elif opcode in (RETURN, UNREACHABLE):
            frame.unreachable = True
            height = frame.base
            continue
        elif opcode in FORBIDDEN_OPCODES:
            raise ForbiddenFeature(FORBIDDEN_OPCODES[opcode], reader.location(start))
        else:
            raise reader.invalid(f"unknown opcode {opcode:#04x}", start)
        height -= pops
        if height < frame.base:
            if not frame.unreachable:
                raise underflow(start)
            height = frame.base
        height += pushes
        values += pushes
        max_height = max(max_height, height)


def _memory_argument(reader: ByteReader, context: ModuleContext, start: int) -> None:
    align = reader.u32()
    if align & 0x40:
        raise ForbiddenFeature("multiple memories (memory index in memarg)",
                               reader.location(start))
    reader.u32()
    if not context.has_memory:
        raise reader.invalid("memory instruction without a memory", start)


def _memory_index(reader: ByteReader, context: ModuleContext, start: int) -> None:
    index_offset = reader.position
    if reader.u32() != 0:
        raise ForbiddenFeature("multiple memories (memory index > 0)",
                               reader.location(index_offset))
    if not context.has_memory:
        raise reader.invalid("memory instruction without a memory", start)


def _misc_instruction(reader: ByteReader, context: ModuleContext, start: int) -> tuple[int, int]:
    sub_opcode = reader.u32()
    if sub_opcode <= MISC_TRUNC_SAT_LAST:
        return 1, 1
    if sub_opcode == MISC_MEMORY_COPY:
        _memory_index(reader, context, start)
        _memory_index(reader, context, start)
        return 3, 0
    if sub_opcode == MISC_MEMORY_FILL:
        _memory_index(reader, context, start)
        return 3, 0
    if sub_opcode in FORBIDDEN_MISC:
        raise ForbiddenFeature(FORBIDDEN_MISC[sub_opcode], reader.location(start))
    raise reader.invalid(f"unknown instruction 0xfc {sub_opcode}", start)
