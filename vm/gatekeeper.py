"""Deploy-time gatekeeper: the checks every contract passes before it is stored.

Guarantees: ``check(code)`` returns a ``ModuleInfo`` only for a module that
- is at most ``MODULE_BYTES_MAX`` bytes and is a well-formed version-1 core
  module (zonechain.vm.wasm.reader: strict LEB128, UTF-8 names, sections in
  order and consumed exactly; custom sections allowed and counted in the size);
- imports only functions of ``abi.HOST_MODULE`` whose names and exact
  signatures are in ``abi.HOST_FUNCTIONS_V1`` (no memories, tables or globals
  imported; ``abi.INTERNAL_MODULE`` is ours and refused);
- defines exactly one memory, exported as ``"memory"``, and exports otherwise
  only methods: functions of type [] -> [] named by ``abi.METHOD_NAME_PATTERN``
  (no globals, tables, duplicates or ``abi.RESERVED_EXPORT_PREFIX`` names);
- has no start function (it would run at instantiation, outside the gas of any
  call);
- uses only MVP + sign extension + multi-value + mutable globals +
  non-trapping float-to-int + ``memory.copy``/``memory.fill``; everything else
  (threads, SIMD, memory64, reference types, exceptions, GC, tail calls,
  several memories or tables, passive segments, ``memory.init``, ``data.drop``
  and the table bulk operations) is ``ForbiddenFeature`` naming the feature;
- respects every deploy-time bound of ``zonechain.vm.limits``, including each
  function's maximum operand-stack height (``OPERAND_STACK_HEIGHT_MAX``);
- and is then also accepted by wasmtime's validator with the VM's engine.
Anything else raises a ``DeployError`` subclass (zonechain.vm.wasm.errors) with
a stable ``code`` and a message naming the section, function and byte offset;
no other exception escapes, whatever the bytes.

``prepare(code)`` = ``check`` + ``zonechain.vm.instrument`` (deterministic
stack metering, metered ``memory.grow``, exported mutable globals): the
``PreparedCode`` it returns is what the engine compiles.

Determinism: every decision is a pure function of the bytes and of the tables
in vm/abi.py and vm/limits.py; error messages hold no machine-dependent text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

import wasmtime

from zonechain.vm import abi, limits
from zonechain.vm.errors import DeployError
from zonechain.vm.wasm.code import BodyAnalysis, ModuleContext, walk_body
from zonechain.vm.wasm.errors import (
    DuplicateExport,
    ForbiddenExport,
    ForbiddenFeature,
    ForbiddenImport,
    ImportSignatureMismatch,
    InvalidMethodSignature,
    InvalidWasm,
    LimitExceeded,
    MissingExport,
    ModuleTooLarge,
    StartFunctionForbidden,
    Truncated,
)
from zonechain.vm.wasm.module import (
    I32,
    I64,
    KIND_FUNCTION,
    KIND_GLOBAL,
    KIND_MEMORY,
    KIND_NAMES,
    KIND_TABLE,
    FuncType,
    Module,
)
from zonechain.vm.wasm.reader import ByteReader, read_module

__all__ = [
    "DeployError",
    "DuplicateExport",
    "ForbiddenExport",
    "ForbiddenFeature",
    "ForbiddenImport",
    "ImportSignatureMismatch",
    "InvalidMethodSignature",
    "InvalidWasm",
    "LimitExceeded",
    "MissingExport",
    "ModuleInfo",
    "ModuleTooLarge",
    "PreparedCode",
    "StartFunctionForbidden",
    "Truncated",
    "check",
    "prepare",
]

_ABI_VALUE_TYPES = {"i32": I32, "i64": I64}
METHOD_TYPE = FuncType((), ())


@dataclass(frozen=True)
class ModuleInfo:
    """The parsed summary of a module that passed every check."""

    module: Module
    function_types: tuple[FuncType, ...]  # every function, imports first
    bodies: tuple[BodyAnalysis, ...]      # defined functions, in order
    methods: tuple[str, ...]              # sorted, without "init"
    has_init: bool
    memory_pages_initial: int


@dataclass(frozen=True)
class PreparedCode:
    code_hash: bytes            # sha256 of the ORIGINAL deployed bytes (the contract's code hash)
    code: bytes                 # the instrumented module bytes: what the engine compiles
    methods: tuple[str, ...]    # exported method names, sorted (excluding "init")
    has_init: bool              # exports an "init" method
    global_exports: tuple[str, ...]  # export names of the mutable-global handles added by
    #                                  instrumentation, so the runtime can save/restore them
    memory_pages_initial: int


WASMTIME_REFUSED_MESSAGE: Final = (
    "wasmtime validation failed: the module is not valid WebAssembly (a type or "
    "structure error beyond the gatekeeper's own checks)"
)


def wasmtime_validate(code: bytes) -> None:
    """Run wasmtime's validator with the VM's engine (vm/engine.py); InvalidWasm if it refuses.

    That engine keeps reference types on (wasmtime 50 cannot build an engine
    without them), so this check alone would admit them: the gatekeeper's own
    checks run first and refuse them.
    """
    from zonechain.vm.engine import shared_engine

    try:
        wasmtime.Module.validate(shared_engine(), code)
    except wasmtime.WasmtimeError:
        # The message lands in receipts, so it is ours and fixed: wasmtime's own
        # wording (and its offsets) may change with any engine release.
        raise InvalidWasm(WASMTIME_REFUSED_MESSAGE) from None


def prepare(code: bytes) -> PreparedCode:
    """Check ``code`` and instrument it; raises DeployError subclasses."""
    from zonechain.vm.instrument import instrument

    info = check(code)
    instrumented = instrument(info)
    return PreparedCode(
        code_hash=hashlib.sha256(info.module.data).digest(),
        code=instrumented.code,
        methods=info.methods,
        has_init=info.has_init,
        global_exports=instrumented.global_exports,
        memory_pages_initial=info.memory_pages_initial,
    )


def check(code: bytes) -> ModuleInfo:
    """Every deploy-time check; returns the module's summary or raises DeployError."""
    info = check_structure(code)
    wasmtime_validate(info.module.data)
    return info


def check_structure(code: bytes) -> ModuleInfo:
    """The gatekeeper's own checks, without wasmtime's validator (see ``check``)."""
    if not isinstance(code, bytes | bytearray | memoryview):
        raise InvalidWasm(f"code must be bytes, not {type(code).__name__}")
    data = bytes(code)
    if len(data) > limits.MODULE_BYTES_MAX:
        raise ModuleTooLarge(
            f"module is {len(data)} bytes, the maximum is {limits.MODULE_BYTES_MAX}"
        )
    module = read_module(data)
    _check_counts(module)
    _check_imports(module)
    if module.start_function is not None:
        raise StartFunctionForbidden(
            f"the module declares start function {module.start_function}: it would run at "
            "instantiation, outside any call's gas accounting"
        )
    _check_memory_and_tables(module)
    function_types = _function_types(module)
    methods, has_init = _check_exports(module, function_types)
    _check_elements(module, function_types)
    bodies = _check_bodies(module, function_types)
    return ModuleInfo(
        module=module,
        function_types=tuple(function_types),
        bodies=bodies,
        methods=methods,
        has_init=has_init,
        memory_pages_initial=module.memories[0].minimum,
    )


def _limit(name: str, value: int, maximum: int, where: str = "") -> None:
    if value > maximum:
        raise LimitExceeded(name, value, maximum, where)


def _check_counts(module: Module) -> None:
    _limit("TYPES_MAX", len(module.types), limits.TYPES_MAX, "type section")
    _limit("IMPORTS_MAX", len(module.imports), limits.IMPORTS_MAX, "import section")
    _limit("FUNCTIONS_MAX", module.function_count, limits.FUNCTIONS_MAX, "function section")
    _limit("GLOBALS_MAX", len(module.globals), limits.GLOBALS_MAX, "global section")
    _limit("EXPORTS_MAX", len(module.exports), limits.EXPORTS_MAX, "export section")
    _limit("DATA_SEGMENTS_MAX", module.data_segment_count, limits.DATA_SEGMENTS_MAX,
           "data section")
    _limit("ELEMENT_SEGMENTS_MAX", len(module.elements), limits.ELEMENT_SEGMENTS_MAX,
           "element section")
    for index, func_type in enumerate(module.types):
        where = f"type section, type {index}"
        _limit("PARAMS_PER_FUNCTION_MAX", len(func_type.params),
               limits.PARAMS_PER_FUNCTION_MAX, where)
        _limit("RESULTS_PER_FUNCTION_MAX", len(func_type.results),
               limits.RESULTS_PER_FUNCTION_MAX, where)


def _check_imports(module: Module) -> None:
    for entry in module.imports:
        where = f"import {entry.module!r}.{entry.name!r} at offset {entry.offset:#x}"
        if entry.module == abi.INTERNAL_MODULE:
            raise ForbiddenImport(f"module {abi.INTERNAL_MODULE!r} is reserved for the VM "
                                  f"({where})")
        if entry.module != abi.HOST_MODULE:
            raise ForbiddenImport(f"only module {abi.HOST_MODULE!r} may be imported ({where})")
        if entry.kind != KIND_FUNCTION:
            raise ForbiddenImport(
                f"only functions may be imported, not a {KIND_NAMES[entry.kind]} ({where})"
            )
        host = abi.HOST_FUNCTIONS_BY_NAME.get(entry.name)
        if host is None:
            raise ForbiddenImport(f"no host function of this name in interface v1 ({where})")
        expected = FuncType(
            tuple(_ABI_VALUE_TYPES[t] for t in host.params),
            tuple(_ABI_VALUE_TYPES[t] for t in host.results),
        )
        actual = module.types[entry.type_index]
        if actual != expected:
            raise ImportSignatureMismatch(
                f"{entry.name} has type {expected.describe()}, imported as "
                f"{actual.describe()} ({where})"
            )


def _check_memory_and_tables(module: Module) -> None:
    if len(module.memories) > 1:
        raise ForbiddenFeature("multiple memories", f"memory section, {len(module.memories)}")
    if len(module.tables) > 1:
        raise ForbiddenFeature("multiple tables", f"table section, {len(module.tables)}")
    if not module.memories:
        raise MissingExport(f"the module defines no memory; it must export one as "
                            f"{abi.MEMORY_EXPORT!r}")
    memory = module.memories[0]
    _limit("MEMORY_PAGES_INITIAL_MAX", memory.minimum, limits.MEMORY_PAGES_INITIAL_MAX,
           "memory section, initial pages")
    if memory.maximum is not None:
        _limit("MEMORY_PAGES_MAX", memory.maximum, limits.MEMORY_PAGES_MAX,
               "memory section, declared maximum pages")
    for table in module.tables:
        _limit("TABLE_ELEMENTS_MAX", table.minimum, limits.TABLE_ELEMENTS_MAX,
               "table section, initial elements")
        if table.maximum is not None:
            _limit("TABLE_ELEMENTS_MAX", table.maximum, limits.TABLE_ELEMENTS_MAX,
                   "table section, declared maximum elements")


def _function_types(module: Module) -> list[FuncType]:
    types = [module.types[e.type_index] for e in module.imports if e.kind == KIND_FUNCTION]
    types.extend(module.types[index] for index in module.function_type_indices)
    return types


def _check_exports(
    module: Module, function_types: list[FuncType]
) -> tuple[tuple[str, ...], bool]:
    seen: set[str] = set()
    methods: list[str] = []
    memory_exported = False
    imported = module.imported_function_count
    for export in module.exports:
        where = f"export {export.name!r} at offset {export.offset:#x}"
        if export.name in seen:
            raise DuplicateExport(f"export name used twice ({where})")
        seen.add(export.name)
        if export.name.startswith(abi.RESERVED_EXPORT_PREFIX):
            raise ForbiddenExport(
                f"names starting with {abi.RESERVED_EXPORT_PREFIX!r} are reserved ({where})"
            )
        if export.kind == KIND_MEMORY:
            if export.index >= len(module.memories):
                raise InvalidWasm(f"memory index {export.index} out of range ({where})")
            if export.name != abi.MEMORY_EXPORT:
                raise ForbiddenExport(f"the memory may only be exported as "
                                      f"{abi.MEMORY_EXPORT!r} ({where})")
            memory_exported = True
        elif export.kind in (KIND_GLOBAL, KIND_TABLE):
            raise ForbiddenExport(f"a {KIND_NAMES[export.kind]} may not be exported ({where})")
        else:
            _check_method(export.name, export.index, function_types, imported, where)
            methods.append(export.name)
    if not memory_exported:
        raise MissingExport(f"the module's memory must be exported as {abi.MEMORY_EXPORT!r}")
    has_init = abi.INIT_METHOD in methods
    return tuple(sorted(m for m in methods if m != abi.INIT_METHOD)), has_init


def _check_method(
    name: str, index: int, function_types: list[FuncType], imported: int, where: str
) -> None:
    if index >= len(function_types):
        raise InvalidWasm(f"function index {index} out of range ({where})")
    if not abi.METHOD_NAME_PATTERN.fullmatch(name):
        raise ForbiddenExport(f"method names must match {abi.METHOD_NAME_PATTERN.pattern} "
                              f"({where})")
    if index < imported:
        raise ForbiddenExport(f"a host function may not be re-exported ({where})")
    if function_types[index] != METHOD_TYPE:
        raise InvalidMethodSignature(
            f"methods have type [] -> [], this one has {function_types[index].describe()} "
            f"({where})"
        )


def _check_elements(module: Module, function_types: list[FuncType]) -> None:
    if module.elements and not module.tables:
        raise InvalidWasm("element segment without a table (element section)")
    total = 0
    for number, segment in enumerate(module.elements):
        total += len(segment.function_indices)
        for index in segment.function_indices:
            if index >= len(function_types):
                raise InvalidWasm(
                    f"function index {index} out of range (element section, segment {number})"
                )
    _limit("TABLE_ELEMENTS_MAX", total, limits.TABLE_ELEMENTS_MAX,
           "element section, elements in all segments")


def _check_bodies(
    module: Module, function_types: list[FuncType]
) -> tuple[BodyAnalysis, ...]:
    context = ModuleContext(
        types=module.types,
        function_types=function_types,
        global_count=len(module.globals),
        has_table=bool(module.tables),
        has_memory=bool(module.memories),
    )
    imported = module.imported_function_count
    analyses: list[BodyAnalysis] = []
    for number, body in enumerate(module.bodies):
        function_index = imported + number
        where = f"code section, function {function_index}, offset {body.start:#x}"
        _limit("FUNCTION_BODY_BYTES_MAX", body.end - body.start,
               limits.FUNCTION_BODY_BYTES_MAX, where)
        _limit("LOCALS_PER_FUNCTION_MAX", body.local_count, limits.LOCALS_PER_FUNCTION_MAX,
               where)
        reader = ByteReader(module.data, body.locals_end, body.end,
                            f"code section, function {function_index}")
        analysis = walk_body(reader, context, function_types[function_index], body.local_count)
        _limit("OPERAND_STACK_HEIGHT_MAX", analysis.max_stack_height,
               limits.OPERAND_STACK_HEIGHT_MAX, where)
        analyses.append(analysis)
    return tuple(analyses)
