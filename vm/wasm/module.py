"""The parsed shape of a WebAssembly module, as the reader returns it.

Only what the gatekeeper and the instrumenter need is decoded into fields;
everything else keeps its exact original bytes (``raw`` spans into the module),
so a writer can re-emit untouched parts byte for byte. Every index here is an
index into the module's own index spaces (function indices count imported
functions first, as in the binary format).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Value types admitted by the reader (MVP numeric types).
I32 = 0x7F
I64 = 0x7E
F32 = 0x7D
F64 = 0x7C
VALUE_TYPE_NAMES: dict[int, str] = {I32: "i32", I64: "i64", F32: "f32", F64: "f64"}

# External kinds (import and export descriptors).
KIND_FUNCTION = 0
KIND_TABLE = 1
KIND_MEMORY = 2
KIND_GLOBAL = 3
KIND_TAG = 4
KIND_NAMES: dict[int, str] = {
    KIND_FUNCTION: "function", KIND_TABLE: "table", KIND_MEMORY: "memory",
    KIND_GLOBAL: "global", KIND_TAG: "tag",
}

# Section identifiers, in the order they must appear (custom sections anywhere).
SECTION_CUSTOM = 0
SECTION_TYPE = 1
SECTION_IMPORT = 2
SECTION_FUNCTION = 3
SECTION_TABLE = 4
SECTION_MEMORY = 5
SECTION_GLOBAL = 6
SECTION_EXPORT = 7
SECTION_START = 8
SECTION_ELEMENT = 9
SECTION_CODE = 10
SECTION_DATA = 11
SECTION_DATA_COUNT = 12
SECTION_TAG = 13
SECTION_ORDER: tuple[int, ...] = (
    SECTION_TYPE, SECTION_IMPORT, SECTION_FUNCTION, SECTION_TABLE, SECTION_MEMORY,
    SECTION_TAG, SECTION_GLOBAL, SECTION_EXPORT, SECTION_START, SECTION_ELEMENT,
    SECTION_DATA_COUNT, SECTION_CODE, SECTION_DATA,
)
SECTION_NAMES: dict[int, str] = {
    SECTION_CUSTOM: "custom", SECTION_TYPE: "type", SECTION_IMPORT: "import",
    SECTION_FUNCTION: "function", SECTION_TABLE: "table", SECTION_MEMORY: "memory",
    SECTION_GLOBAL: "global", SECTION_EXPORT: "export", SECTION_START: "start",
    SECTION_ELEMENT: "element", SECTION_CODE: "code", SECTION_DATA: "data",
    SECTION_DATA_COUNT: "data count", SECTION_TAG: "tag",
}


@dataclass(frozen=True)
class FuncType:
    params: tuple[int, ...]
    results: tuple[int, ...]

    def describe(self) -> str:
        def names(types: tuple[int, ...]) -> str:
            return " ".join(VALUE_TYPE_NAMES.get(t, hex(t)) for t in types)

        return f"[{names(self.params)}] -> [{names(self.results)}]"


@dataclass(frozen=True)
class Limits:
    minimum: int
    maximum: int | None


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    kind: int
    type_index: int  # function imports only; 0 otherwise (other kinds are refused)
    offset: int


@dataclass(frozen=True)
class Global:
    value_type: int
    mutable: bool
    init: bytes  # the constant expression, including its final ``end``


@dataclass(frozen=True)
class Export:
    name: str
    kind: int
    index: int
    offset: int


@dataclass(frozen=True)
class ElementSegment:
    """An active segment into table 0: ``function_indices`` placed at ``offset``."""

    flags: int  # 0 (table 0 implicit) or 2 (table index written, element kind funcref)
    offset_expr: bytes
    function_indices: tuple[int, ...]


@dataclass(frozen=True)
class FunctionBody:
    """One code-section entry; ``start``/``end`` are offsets into the module bytes.

    ``locals_end`` is where the local declarations stop and instructions begin.
    """

    start: int
    locals_end: int
    end: int
    local_count: int


@dataclass(frozen=True)
class Section:
    section_id: int
    start: int  # offset of the first content byte
    end: int    # offset after the last content byte


@dataclass
class Module:
    data: bytes
    types: list[FuncType] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    function_type_indices: list[int] = field(default_factory=list)  # defined functions
    tables: list[Limits] = field(default_factory=list)
    memories: list[Limits] = field(default_factory=list)
    globals: list[Global] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    start_function: int | None = None
    elements: list[ElementSegment] = field(default_factory=list)
    data_count: int | None = None
    data_segment_count: int = 0
    bodies: list[FunctionBody] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    @property
    def imported_function_count(self) -> int:
        return sum(1 for entry in self.imports if entry.kind == KIND_FUNCTION)

    @property
    def function_count(self) -> int:
        return self.imported_function_count + len(self.function_type_indices)

    def section(self, section_id: int) -> Section | None:
        for section in self.sections:
            if section.section_id == section_id:
                return section
        return None
