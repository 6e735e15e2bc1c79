"""A strict reader of the WebAssembly binary format (module structure).

Guarantees: ``read_module`` either returns a ``Module`` whose every field was
decoded from well-formed bytes, or raises a ``DeployError`` subclass
(``InvalidWasm``, ``Truncated``, ``ForbiddenFeature``) that names the section
and byte offset. No other exception escapes: every read is bounds-checked,
LEB128 integers are checked for overlong encodings (more bytes than the type
allows) and for set unused bits, names must be UTF-8, and every section must be
consumed exactly. Features outside the VM's subset that change how bytes are
laid out (shared or 64-bit memories, reference-typed tables, passive segments,
GC types, tags) are refused here, while decoding, with ``ForbiddenFeature``.

Instruction streams are walked by ``zonechain.vm.wasm.code``; this module only
delimits function bodies and decodes their local declarations.

Determinism: a pure function of the input bytes.
"""

from __future__ import annotations

from zonechain.vm.wasm.errors import ForbiddenFeature, InvalidWasm, Truncated
from zonechain.vm.wasm.module import (
    F32,
    F64,
    I32,
    I64,
    KIND_FUNCTION,
    KIND_GLOBAL,
    KIND_MEMORY,
    KIND_TABLE,
    KIND_TAG,
    SECTION_CODE,
    SECTION_CUSTOM,
    SECTION_DATA,
    SECTION_DATA_COUNT,
    SECTION_ELEMENT,
    SECTION_EXPORT,
    SECTION_FUNCTION,
    SECTION_GLOBAL,
    SECTION_IMPORT,
    SECTION_MEMORY,
    SECTION_NAMES,
    SECTION_ORDER,
    SECTION_START,
    SECTION_TABLE,
    SECTION_TAG,
    SECTION_TYPE,
    ElementSegment,
    Export,
    FunctionBody,
    FuncType,
    Global,
    Import,
    Limits,
    Module,
    Section,
)

MAGIC = b"\x00asm"
VERSION_1 = b"\x01\x00\x00\x00"
NUMERIC_TYPES = frozenset((I32, I64, F32, F64))
V128 = 0x7B
FUNCREF = 0x70
EXTERNREF = 0x6F
FUNC_TYPE_FORM = 0x60
GC_TYPE_FORMS = frozenset((0x4E, 0x50, 0x4F, 0x5F, 0x5E))  # rec, sub, sub final, struct, array
END = 0x0B
CONST_OPCODES = {0x41: "i32.const", 0x42: "i64.const", 0x43: "f32.const", 0x44: "f64.const"}
CONST_TYPES = {0x41: I32, 0x42: I64, 0x43: F32, 0x44: F64}


def describe_value_type_feature(byte: int) -> str | None:
    """The forbidden feature a non-numeric value-type byte belongs to, if known."""
    if byte == V128:
        return "SIMD (v128 value type)"
    if byte in (FUNCREF, EXTERNREF):
        return "reference types (reference value type)"
    if 0x63 <= byte <= 0x74 or byte in (0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E):
        return "GC / typed function references (reference value type)"
    return None


class ByteReader:
    """Bounds-checked cursor over ``data[position:end]`` (offsets are module-absolute)."""

    __slots__ = ("data", "end", "position", "where")

    def __init__(self, data: bytes, position: int, end: int, where: str) -> None:
        self.data = data
        self.position = position
        self.end = end
        self.where = where

    def location(self, offset: int | None = None) -> str:
        return f"{self.where}, offset {self.position if offset is None else offset:#x}"

    def invalid(self, what: str, offset: int | None = None) -> InvalidWasm:
        return InvalidWasm(f"{what} ({self.location(offset)})")

    def at_end(self) -> bool:
        return self.position >= self.end

    def byte(self) -> int:
        if self.position >= self.end:
            raise Truncated(f"unexpected end of bytes ({self.location()})")
        value = self.data[self.position]
        self.position += 1
        return value

    def read_bytes(self, length: int) -> bytes:
        if length > self.end - self.position:
            raise Truncated(
                f"{length} bytes needed, {self.end - self.position} left ({self.location()})"
            )
        value = self.data[self.position:self.position + length]
        self.position += length
        return value

    def u32(self) -> int:
        position = self.position
        if position < self.end and self.data[position] < 0x80:  # one-byte fast path
            self.position = position + 1
            return self.data[position]
        return self._unsigned(32)

    def u64(self) -> int:
        return self._unsigned(64)

    def _unsigned(self, bits: int) -> int:
        start = self.position
        result = 0
        shift = 0
        max_bytes = (bits + 6) // 7
        for index in range(max_bytes):
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if byte & 0x80 == 0:
                if index == max_bytes - 1 and byte >> (bits - shift) != 0:
                    raise self.invalid(f"u{bits} LEB128 overflows {bits} bits", start)
                return result
            shift += 7
        raise self.invalid(f"u{bits} LEB128 longer than {max_bytes} bytes", start)

    def s32(self) -> int:
        return self.signed(32)

    def s64(self) -> int:
        return self.signed(64)

    def signed(self, bits: int) -> int:
        start = self.position
        result = 0
        shift = 0
        max_bytes = (bits + 6) // 7
        for index in range(max_bytes):
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            shift += 7
            if byte & 0x80 == 0:
                if index == max_bytes - 1:
                    # The unused high bits of the last byte must extend the sign bit.
                    used = bits - (shift - 7)
                    rest = (byte & 0x7F) >> (used - 1)
                    if rest not in (0, (0x7F >> (used - 1))):
                        raise self.invalid(f"s{bits} LEB128 overflows {bits} bits", start)
                if byte & 0x40:
                    result -= 1 << shift
                return result
        raise self.invalid(f"s{bits} LEB128 longer than {max_bytes} bytes", start)

    def name(self) -> str:
        start = self.position
        raw = self.read_bytes(self.u32())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.invalid("name is not valid UTF-8", start) from None

    def value_type(self) -> int:
        start = self.position
        byte = self.byte()
        if byte in NUMERIC_TYPES:
            return byte
        feature = describe_value_type_feature(byte)
        if feature is not None:
            raise ForbiddenFeature(feature, self.location(start))
        raise self.invalid(f"unknown value type {byte:#04x}", start)

    def limits(self, kind: str) -> Limits:
        start = self.position
        flags = self.byte()
        if flags in (0x02, 0x03):
            raise ForbiddenFeature("threads (shared memory)", self.location(start))
        if flags in (0x04, 0x05, 0x06, 0x07):
            raise ForbiddenFeature("memory64", self.location(start))
        if flags & 0x08 and flags < 0x10:
            raise ForbiddenFeature("custom page sizes", self.location(start))
        if flags not in (0x00, 0x01):
            raise self.invalid(f"unknown {kind} limits flags {flags:#04x}", start)
        minimum = self.u32()
        maximum = self.u32() if flags == 0x01 else None
        if maximum is not None and maximum < minimum:
            raise self.invalid(f"{kind} maximum {maximum} below minimum {minimum}", start)
        return Limits(minimum, maximum)

    def table_type(self) -> Limits:
        start = self.position
        element_type = self.byte()
        if element_type == EXTERNREF:
            raise ForbiddenFeature("reference types (externref table)", self.location(start))
        if element_type == 0x40:
            raise ForbiddenFeature(
                "typed function references (table initialiser)", self.location(start)
            )
        if element_type != FUNCREF:
            feature = describe_value_type_feature(element_type)
            if feature is not None:
                raise ForbiddenFeature(feature, self.location(start))
            raise self.invalid(f"unknown table element type {element_type:#04x}", start)
        return self.limits("table")

    def constant_expression(self) -> tuple[int, bytes]:
        """One ``t.const`` or ``global.get`` then ``end``; returns (opcode, bytes incl. end)."""
        start = self.position
        opcode = self.byte()
        if opcode == 0x41:
            self.s32()
        elif opcode == 0x42:
            self.s64()
        elif opcode == 0x43:
            self.read_bytes(4)
        elif opcode == 0x44:
            self.read_bytes(8)
        elif opcode == 0x23:
            self.u32()
        elif opcode in (0xD0, 0xD2):
            raise ForbiddenFeature("reference types (ref.null / ref.func)", self.location(start))
        elif opcode in (0xFD,):
            raise ForbiddenFeature("SIMD (v128.const)", self.location(start))
        else:
            raise self.invalid(f"opcode {opcode:#04x} not allowed in a constant expression",
                               start)
        end_offset = self.position
        if self.byte() != END:
            raise ForbiddenFeature(
                "extended constant expressions (more than one instruction)",
                self.location(end_offset),
            )
        return opcode, self.data[start:self.position]


def read_module(data: bytes) -> Module:
    """Decode the module structure; raise a DeployError subclass on any defect."""
    if len(data) < 8:
        if MAGIC.startswith(data[:4]) and VERSION_1.startswith(data[4:8]):
            raise Truncated(f"module is {len(data)} bytes, shorter than its 8-byte header")
        raise InvalidWasm("not a WebAssembly module (bad magic number or version)")
    if data[:4] != MAGIC:
        raise InvalidWasm("not a WebAssembly module (bad magic number at offset 0x0)")
    if data[4:8] != VERSION_1:
        raise InvalidWasm(
            "unsupported binary version (offset 0x4): only version 1 core modules are "
            "accepted (components and layered formats are not)"
        )
    module = Module(data=data)
    reader = ByteReader(data, 8, len(data), "module header")
    last_order = -1
    function_count_declared: int | None = None
    while not reader.at_end():
        section_offset = reader.position
        reader.where = f"section header at {section_offset:#x}"
        section_id = reader.byte()
        size = reader.u32()
        content_start = reader.position
        if size > reader.end - content_start:
            raise Truncated(
                f"{SECTION_NAMES.get(section_id, str(section_id))} section declares {size} "
                f"bytes, only {reader.end - content_start} remain (offset {section_offset:#x})"
            )
        content_end = content_start + size
        if section_id not in SECTION_NAMES:
            raise InvalidWasm(f"unknown section id {section_id} at offset {section_offset:#x}")
        name = SECTION_NAMES[section_id]
        section_reader = ByteReader(data, content_start, content_end, f"{name} section")
        if section_id != SECTION_CUSTOM:
            order = SECTION_ORDER.index(section_id)
            if order <= last_order:
                raise InvalidWasm(
                    f"{name} section at offset {section_offset:#x} is out of order or repeated"
                )
            last_order = order
        _read_section(module, section_id, section_reader)
        if section_id == SECTION_FUNCTION:
            function_count_declared = len(module.function_type_indices)
        if section_reader.position != content_end:
            raise section_reader.invalid(
                f"section size mismatch: {content_end - section_reader.position} bytes unread"
            )
        module.sections.append(Section(section_id, content_start, content_end))
        reader.position = content_end
    _check_counts(module, function_count_declared)
    return module


def _check_counts(module: Module, function_count_declared: int | None) -> None:
    declared = function_count_declared or 0
    if len(module.bodies) != declared:
        raise InvalidWasm(
            f"function section declares {declared} functions, code section has "
            f"{len(module.bodies)} bodies"
        )
    if module.data_count is not None and module.data_count != module.data_segment_count:
        raise InvalidWasm(
            f"data count section says {module.data_count}, data section has "
            f"{module.data_segment_count} segments"
        )


def _read_section(module: Module, section_id: int, reader: ByteReader) -> None:
    if section_id == SECTION_CUSTOM:
        reader.name()
        reader.position = reader.end
    elif section_id == SECTION_TYPE:
        _read_types(module, reader)
    elif section_id == SECTION_IMPORT:
        _read_imports(module, reader)
    elif section_id == SECTION_FUNCTION:
        for _ in range(reader.u32()):
            module.function_type_indices.append(_type_index(module, reader))
    elif section_id == SECTION_TABLE:
        for _ in range(reader.u32()):
            module.tables.append(reader.table_type())
    elif section_id == SECTION_MEMORY:
        for _ in range(reader.u32()):
            module.memories.append(reader.limits("memory"))
    elif section_id == SECTION_TAG:
        raise ForbiddenFeature("exception handling (tag section)", reader.location())
    elif section_id == SECTION_GLOBAL:
        _read_globals(module, reader)
    elif section_id == SECTION_EXPORT:
        _read_exports(module, reader)
    elif section_id == SECTION_START:
        module.start_function = reader.u32()
    elif section_id == SECTION_ELEMENT:
        _read_elements(module, reader)
    elif section_id == SECTION_DATA_COUNT:
        module.data_count = reader.u32()
    elif section_id == SECTION_CODE:
        _read_code(module, reader)
    elif section_id == SECTION_DATA:
        _read_data(module, reader)


def _type_index(module: Module, reader: ByteReader) -> int:
    start = reader.position
    index = reader.u32()
    if index >= len(module.types):
        raise reader.invalid(f"type index {index} out of range ({len(module.types)} types)", start)
    return index


def _read_types(module: Module, reader: ByteReader) -> None:
    for _ in range(reader.u32()):
        start = reader.position
        form = reader.byte()
        if form in GC_TYPE_FORMS:
            raise ForbiddenFeature("GC (struct, array or recursive types)", reader.location(start))
        if form != FUNC_TYPE_FORM:
            raise reader.invalid(f"unknown type form {form:#04x}", start)
        params = tuple(reader.value_type() for _ in range(reader.u32()))
        results = tuple(reader.value_type() for _ in range(reader.u32()))
        module.types.append(FuncType(params, results))


def _read_imports(module: Module, reader: ByteReader) -> None:
    for _ in range(reader.u32()):
        start = reader.position
        module_name = reader.name()
        name = reader.name()
        kind_offset = reader.position
        kind = reader.byte()
        type_index = 0
        if kind == KIND_FUNCTION:
            type_index = _type_index(module, reader)
        elif kind == KIND_TABLE:
            reader.table_type()
        elif kind == KIND_MEMORY:
            reader.limits("memory")
        elif kind == KIND_GLOBAL:
            reader.value_type()
            _mutability(reader)
        elif kind == KIND_TAG:
            raise ForbiddenFeature("exception handling (tag import)", reader.location(kind_offset))
        else:
            raise reader.invalid(f"unknown import kind {kind:#04x}", kind_offset)
        module.imports.append(Import(module_name, name, kind, type_index, start))


def _mutability(reader: ByteReader) -> bool:
    start = reader.position
    flag = reader.byte()
    if flag in (0x02, 0x03):
        raise ForbiddenFeature("threads (shared global)", reader.location(start))
    if flag not in (0x00, 0x01):
        raise reader.invalid(f"unknown global mutability {flag:#04x}", start)
    return flag == 0x01


def _read_globals(module: Module, reader: ByteReader) -> None:
    for _ in range(reader.u32()):
        value_type = reader.value_type()
        mutable = _mutability(reader)
        start = reader.position
        opcode, init = reader.constant_expression()
        if opcode == 0x23:
            # Without imported globals (refused by the gatekeeper) there is no
            # global a constant expression may read.
            raise reader.invalid("global.get in a global initialiser reads no import", start)
        if CONST_TYPES[opcode] != value_type:
            raise reader.invalid(f"{CONST_OPCODES[opcode]} initialises a global of another "
                                 "type", start)
        module.globals.append(Global(value_type, mutable, init))


def _read_exports(module: Module, reader: ByteReader) -> None:
    for _ in range(reader.u32()):
        start = reader.position
        name = reader.name()
        kind_offset = reader.position
        kind = reader.byte()
        if kind == KIND_TAG:
            raise ForbiddenFeature("exception handling (tag export)", reader.location(kind_offset))
        if kind not in (KIND_FUNCTION, KIND_TABLE, KIND_MEMORY, KIND_GLOBAL):
            raise reader.invalid(f"unknown export kind {kind:#04x}", kind_offset)
        module.exports.append(Export(name, kind, reader.u32(), start))


def _i32_offset_expression(reader: ByteReader, what: str) -> bytes:
    start = reader.position
    opcode, expression = reader.constant_expression()
    if opcode != 0x41:
        raise reader.invalid(f"{what} offset must be an i32.const expression", start)
    return expression


def _read_elements(module: Module, reader: ByteReader) -> None:
    for _ in range(reader.u32()):
        start = reader.position
        flags = reader.u32()
        if flags in (1, 3):
            raise ForbiddenFeature(
                "passive or declarative element segments (bulk memory / reference types)",
                reader.location(start),
            )
        if flags in (4, 5, 6, 7):
            raise ForbiddenFeature(
                "reference types (element segment of expressions)", reader.location(start)
            )
        if flags not in (0, 2):
            raise reader.invalid(f"unknown element segment flags {flags}", start)
        if flags == 2:
            table_offset = reader.position
            if reader.u32() != 0:
                raise ForbiddenFeature("multiple tables (element segment for table > 0)",
                                       reader.location(table_offset))
        offset_expr = _i32_offset_expression(reader, "element segment")
        if flags == 2:
            kind_offset = reader.position
            if reader.byte() != 0x00:
                raise reader.invalid("element kind must be funcref (0x00)", kind_offset)
        indices = tuple(reader.u32() for _ in range(reader.u32()))
        module.elements.append(ElementSegment(flags, offset_expr, indices))


def _read_code(module: Module, reader: ByteReader) -> None:
    count = reader.u32()
    for function in range(count):
        size = reader.u32()
        body_start = reader.position
        if size > reader.end - body_start:
            raise Truncated(f"body of function {function} declares {size} bytes, "
                            f"{reader.end - body_start} remain ({reader.location()})")
        body_end = body_start + size
        body = ByteReader(reader.data, body_start, body_end, f"code section, function {function}")
        local_count = 0
        for _ in range(body.u32()):
            local_count += body.u32()
            body.value_type()
        module.bodies.append(FunctionBody(body_start, body.position, body_end, local_count))
        reader.position = body_end


def _read_data(module: Module, reader: ByteReader) -> None:
    count = reader.u32()
    for _ in range(count):
        start = reader.position
        flags = reader.u32()
        if flags == 1:
            raise ForbiddenFeature("passive data segments (bulk memory)", reader.location(start))
        if flags == 2:
            memory_offset = reader.position
            if reader.u32() != 0:
                raise ForbiddenFeature("multiple memories (data segment for memory > 0)",
                                       reader.location(memory_offset))
        elif flags != 0:
            raise reader.invalid(f"unknown data segment flags {flags}", start)
        _i32_offset_expression(reader, "data segment")
        reader.read_bytes(reader.u32())
    module.data_segment_count = count
