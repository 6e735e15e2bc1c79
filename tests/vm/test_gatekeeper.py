"""Gatekeeper rules: one fixture per rule, each asserting the exact error code."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import wasmtime

from tests.vm.wat import MEMORY, binary, contract, module, split_sections
from zonechain.vm import abi, limits
from zonechain.vm.errors import DeployError
from zonechain.vm.gatekeeper import (
    WASMTIME_REFUSED_MESSAGE,
    PreparedCode,
    check,
    check_structure,
    prepare,
)
from zonechain.vm.wasm import errors
from zonechain.vm.wasm.writer import encode_u32

RUN = '(func (export "run"))'


def rejected(code: bytes) -> DeployError:
    with pytest.raises(DeployError) as caught:
        check(code)
    return caught.value


# --- accepted modules ------------------------------------------------------------

def test_minimal_contract_is_prepared() -> None:
    code = contract(f'{RUN} (func (export "init")) (func (export "b_method"))')
    prepared = prepare(code)
    assert isinstance(prepared, PreparedCode)
    assert prepared.methods == ("b_method", "run")
    assert prepared.has_init
    assert prepared.memory_pages_initial == 1
    assert len(prepared.code_hash) == 32
    assert prepared.code != code
    wasmtime.Module.validate(wasmtime.Engine(), prepared.code)


def test_every_host_function_imports_with_its_signature() -> None:
    imports = " ".join(
        f'(import "{abi.HOST_MODULE}" "{f.name}" (func (param {" ".join(f.params)}) '
        f'(result {" ".join(f.results)})))'
        for f in abi.HOST_FUNCTIONS_V1
    )
    info = check(contract(imports + RUN))
    assert len(info.module.imports) == len(abi.HOST_FUNCTIONS_V1)


ALLOWED_FEATURES = {
    "floats": "(func (result f64) (f64.add (f64.const 1.5) (f64.convert_i32_s (i32.const 2))))",
    "sign_extension": "(func (result i64) (i64.extend32_s (i64.const 5)))",
    "saturating_truncation": "(func (result i32) (i32.trunc_sat_f64_s (f64.const 1e300)))",
    "multi_value": """(func $pair (result i32 i64) (i32.const 1) (i64.const 2))
        (func (result i32) (block (result i32 i64) (call $pair)) (drop))""",
    "block_params": """(func (result i32)
        (i32.const 1) (block (param i32) (result i32) (i32.const 2) (i32.add)))""",
    "mutable_global": """(global $g (mut i64) (i64.const 0))
        (func (global.set $g (i64.add (global.get $g) (i64.const 1))))""",
    "memory_copy_fill": """(func (memory.copy (i32.const 0) (i32.const 8) (i32.const 8))
        (memory.fill (i32.const 0) (i32.const 0) (i32.const 8)))""",
    "call_indirect": """(type $t (func (param i32) (result i32))) (table 2 funcref)
        (func $id (param i32) (result i32) (local.get 0)) (elem (i32.const 0) $id $id)
        (func (result i32) (call_indirect (type $t) (i32.const 5) (i32.const 1)))""",
    "memory_grow": "(func (result i32) (memory.grow (i32.const 1)))",
    "loops_and_branches": """(func (param i32) (result i32) (local i32)
        (block $out (loop $again
          (br_if $out (i32.eqz (local.get 0)))
          (local.set 1 (i32.add (local.get 1) (local.get 0)))
          (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
          (br_table $again $out (i32.const 0))))
        (if (result i32) (local.get 1) (then (i32.const 1)) (else (unreachable))))""",
    "data_and_custom": '(data (i32.const 0) "hello") (@custom "note" "anything")',
}


@pytest.mark.parametrize("fields", ALLOWED_FEATURES.values(), ids=ALLOWED_FEATURES.keys())
def test_allowed_features_are_accepted(fields: str) -> None:
    prepared = prepare(contract(fields + RUN))
    assert prepared.methods == ("run",)


def test_data_count_section_is_accepted() -> None:
    sections = split_sections(contract('(data (i32.const 0) "x")' + RUN))
    code_at = next(i for i, (section_id, _) in enumerate(sections) if section_id == 10)
    sections.insert(code_at, (12, encode_u32(1)))
    prepare(binary(*sections))


# --- malformed bytes -------------------------------------------------------------

MALFORMED: dict[str, tuple[bytes, type[DeployError]]] = {
    "empty": (b"", errors.Truncated),
    "magic_only": (b"\x00asm", errors.Truncated),
    "garbage": (b"this is not wasm at all", errors.InvalidWasm),
    "wrong_version": (b"\x00asm\x02\x00\x00\x00", errors.InvalidWasm),
    "component": (b"\x00asm\x0d\x00\x01\x00", errors.InvalidWasm),
    "section_past_end": (b"\x00asm\x01\x00\x00\x00\x01\x10\x01", errors.Truncated),
    "unknown_section": (b"\x00asm\x01\x00\x00\x00\x0e\x00", errors.InvalidWasm),
    "overlong_leb": (b"\x00asm\x01\x00\x00\x00\x01\x80\x80\x80\x80\x80\x00", errors.InvalidWasm),
    "leb_overflow": (b"\x00asm\x01\x00\x00\x00\x01\x80\x80\x80\x80\x10", errors.InvalidWasm),
    "custom_name_not_utf8": (b"\x00asm\x01\x00\x00\x00\x00\x03\x02\xff\xfe", errors.InvalidWasm),
    "sections_out_of_order": (binary((3, b"\x00"), (1, b"\x00")), errors.InvalidWasm),
    "repeated_section": (binary((1, b"\x00"), (1, b"\x00")), errors.InvalidWasm),
    "section_not_consumed": (binary((1, b"\x00\x00")), errors.InvalidWasm),
    "function_without_body": (binary((1, b"\x01\x60\x00\x00"), (3, b"\x01\x00")),
                              errors.InvalidWasm),
}


@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bytes_get_specific_errors(case: tuple[bytes, type[DeployError]]) -> None:
    code, expected = case
    error = rejected(code)
    assert type(error) is expected
    assert error.code == expected.code


def test_header_only_module_has_no_memory() -> None:
    assert rejected(b"\x00asm\x01\x00\x00\x00").code == "missing_export"


def test_oversized_module() -> None:
    base = contract(RUN)
    padding = limits.MODULE_BYTES_MAX - len(base)
    name = b"\x03pad"
    payload = name + b"\x00" * padding
    code = base + bytes((0,)) + encode_u32(len(payload)) + payload
    assert len(code) > limits.MODULE_BYTES_MAX
    assert rejected(code).code == "module_too_large"


def test_not_bytes_is_invalid() -> None:
    with pytest.raises(errors.InvalidWasm):
        check("(module)")  # type: ignore[arg-type]


def test_truncated_body_names_function_and_offset() -> None:
    code = contract(RUN + "(func (export \"other\") (nop) (nop))")
    error = rejected(code[:-3])
    assert error.code in ("truncated", "invalid_wasm")
    assert "offset" in error.message


def test_invalid_type_usage_is_left_to_wasmtime_and_reported() -> None:
    code = contract("(func (drop (i32.add (i64.const 1) (i32.const 2))))" + RUN)
    check_structure(code)  # structurally fine
    error = rejected(code)
    assert error.code == "invalid_wasm"
    assert error.message == WASMTIME_REFUSED_MESSAGE  # ours and fixed: receipts carry it


# --- imports ---------------------------------------------------------------------

IMPORTS: dict[str, tuple[str, type[DeployError]]] = {
    "other_module": ('(import "env" "abort" (func (param i32 i32)))', errors.ForbiddenImport),
    "internal_module": (f'(import "{abi.INTERNAL_MODULE}" "stack_exceeded" (func))',
                        errors.ForbiddenImport),
    "unknown_name": (f'(import "{abi.HOST_MODULE}" "read_clock" (func (result i64)))',
                     errors.ForbiddenImport),
    "memory": (f'(import "{abi.HOST_MODULE}" "memory" (memory 1))', errors.ForbiddenImport),
    "global": (f'(import "{abi.HOST_MODULE}" "g" (global i32))', errors.ForbiddenImport),
    "table": (f'(import "{abi.HOST_MODULE}" "t" (table 1 funcref))', errors.ForbiddenImport),
    "wrong_params": (f'(import "{abi.HOST_MODULE}" "abort" (func (param i32)))',
                     errors.ImportSignatureMismatch),
    "wrong_results": (f'(import "{abi.HOST_MODULE}" "block_height" (func (result i32)))',
                      errors.ImportSignatureMismatch),
}


@pytest.mark.parametrize("case", IMPORTS.values(), ids=IMPORTS.keys())
def test_import_rules(case: tuple[str, type[DeployError]]) -> None:
    fields, expected = case
    memory = MEMORY if "(memory" not in fields else '(memory (export "memory") 1)'
    error = rejected(contract(fields + RUN, memory=memory))
    assert type(error) is expected


# --- exports and start -------------------------------------------------------------

EXPORTS: dict[str, tuple[str, str, type[DeployError]]] = {
    "no_memory": ("", RUN, errors.MissingExport),
    "memory_not_exported": ("(memory 1)", RUN, errors.MissingExport),
    "memory_misnamed": ('(memory (export "mem") 1)', RUN, errors.ForbiddenExport),
    "memory_twice": ('(memory (export "memory") (export "heap") 1)', RUN,
                     errors.ForbiddenExport),
    "global_export": (MEMORY, '(global (export "g") i32 (i32.const 0))' + RUN,
                      errors.ForbiddenExport),
    "table_export": (MEMORY, '(table (export "t") 1 funcref)' + RUN, errors.ForbiddenExport),
    "upper_case_method": (MEMORY, '(func (export "Run"))', errors.ForbiddenExport),
    "method_name_too_long": (MEMORY, f'(func (export "{"a" * 65}"))', errors.ForbiddenExport),
    "reserved_prefix": (MEMORY, '(func (export "__zc_g0"))', errors.ForbiddenExport),
    "method_with_params": (MEMORY, '(func (export "run") (param i32))',
                           errors.InvalidMethodSignature),
    "method_with_result": (MEMORY, '(func (export "run") (result i32) (i32.const 0))',
                           errors.InvalidMethodSignature),
    "host_reexport": ("", f'(import "{abi.HOST_MODULE}" "gas_left" (func $g (result i64)))'
                      f'(export "gas" (func $g)) {MEMORY}', errors.ForbiddenExport),
    "start": (MEMORY, "(func $boot) (start $boot)" + RUN, errors.StartFunctionForbidden),
}


@pytest.mark.parametrize("case", EXPORTS.values(), ids=EXPORTS.keys())
def test_export_rules(case: tuple[str, str, type[DeployError]]) -> None:
    memory, fields, expected = case
    error = rejected(module(f"(module {memory} {fields})"))
    assert type(error) is expected


def test_duplicate_export_names() -> None:
    # wat2wasm refuses duplicates, so rename one export in the binary.
    code = contract('(func (export "aaa")) (func (export "bbb"))')
    error = rejected(code.replace(b"bbb", b"aaa"))
    assert error.code == "duplicate_export"


def test_start_error_says_why() -> None:
    error = rejected(contract("(func $boot) (start $boot)"))
    assert error.code == "start_function_forbidden"
    assert "instantiation" in error.message


# --- features ----------------------------------------------------------------------

FORBIDDEN: dict[str, tuple[str, str]] = {
    "simd_instruction": ("(func (drop (v128.const i64x2 0 0)))", "SIMD"),
    "simd_type": ("(func (param v128))", "SIMD"),
    "relaxed_simd": ("(func (drop (i32x4.relaxed_trunc_f32x4_s (v128.const i64x2 0 0))))",
                     "SIMD"),
    "atomics": ("(func (drop (i32.atomic.load (i32.const 0))))", "threads"),
    "ref_null": ("(func (drop (ref.null func)))", "reference types"),
    "ref_is_null": ("(func (param funcref) (drop (ref.is_null (local.get 0))))",
                    "reference types"),
    "ref_func": ("(func $f (drop (ref.func $f)))", "reference types"),
    "typed_select": ("(func (drop (select (result i32) (i32.const 1) (i32.const 2) "
                     "(i32.const 0))))", "reference types"),
    "table_get": ("(table 1 funcref) (func (drop (table.get 0 (i32.const 0))))",
                  "reference types"),
    "table_size": ("(table 1 funcref) (func (drop (table.size 0)))", "reference types"),
    "table_grow": ("(table 1 funcref) (func (drop (table.grow 0 (ref.null func) "
                   "(i32.const 1))))", "reference types"),
    "externref_table": ("(table 1 externref)", "reference types"),
    "tag": ("(tag $e) (func (throw $e))", "exception handling"),
    "try_table": ("(func (block $b (try_table (catch_all $b))))", "exception handling"),
    "gc_type": ("(type (struct))", "GC"),
    "tail_call": ("(func $f (return_call $f))", "tail calls"),
    "two_memories": ("(memory 1)", "multiple memories"),
    "two_tables": ("(table 1 funcref) (table 1 funcref)", "multiple tables"),
    "passive_data": ('(data "x")', "passive data"),
    "passive_elem": ("(func $f) (elem func $f)", "passive or declarative"),
    "declarative_elem": ("(func $f) (elem declare func $f)", "passive or declarative"),
    "memory_init": ('(data $d (i32.const 0) "x") (func (memory.init $d (i32.const 0) '
                    "(i32.const 0) (i32.const 0)))", "memory.init"),
    "data_drop": ('(data $d (i32.const 0) "x") (func (data.drop $d))', "data.drop"),
    "elem_drop": ("(table 1 funcref) (func $f) (elem $e (i32.const 0) $f) "
                  "(func (elem.drop $e))", "elem.drop"),
    "table_init": ("(table 1 funcref) (func $f) (elem $e (i32.const 0) $f) "
                   "(func (table.init $e (i32.const 0) (i32.const 0) (i32.const 0)))",
                   "table.init"),
    "table_copy": ("(table 1 funcref) (func (table.copy (i32.const 0) (i32.const 0) "
                   "(i32.const 0)))", "table.copy"),
    "extended_const": ("(global i32 (i32.add (i32.const 1) (i32.const 2)))",
                       "extended constant"),
}


@pytest.mark.parametrize("case", FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_forbidden_features_are_named(case: tuple[str, str]) -> None:
    fields, feature = case
    error = rejected(contract(fields + RUN))
    assert type(error) is errors.ForbiddenFeature
    assert feature in error.message


MEMORY_FEATURES: dict[str, tuple[str, str]] = {
    "shared_memory": ('(memory (export "memory") 1 1 shared)', "threads"),
    "memory64": ('(memory (export "memory") i64 1)', "memory64"),
}


@pytest.mark.parametrize("case", MEMORY_FEATURES.values(), ids=MEMORY_FEATURES.keys())
def test_forbidden_memory_kinds(case: tuple[str, str]) -> None:
    memory, feature = case
    error = rejected(contract(RUN, memory=memory))
    assert type(error) is errors.ForbiddenFeature
    assert feature in error.message


def test_gatekeeper_names_a_feature_wasmtime_refuses_generically() -> None:
    code = contract("(func (drop (v128.const i64x2 0 0)))" + RUN)
    from zonechain.vm.engine import shared_engine

    with pytest.raises(wasmtime.WasmtimeError):
        wasmtime.Module.validate(shared_engine(), code)
    assert rejected(code).code == "forbidden_feature"


# --- limits --------------------------------------------------------------------------

def _functions(count: int) -> str:
    return "(func)" * count


LIMIT_CASES: dict[str, Callable[[], bytes]] = {
    "FUNCTIONS_MAX": lambda: contract(_functions(limits.FUNCTIONS_MAX + 1)),
    "TYPES_MAX": lambda: contract("".join(
        f"(type (func (param {' '.join(['i32'] * (i % 60))}) (result "
        f"{' '.join(['i64'] * (i // 60))})))" for i in range(limits.TYPES_MAX + 1))),
    "PARAMS_PER_FUNCTION_MAX": lambda: contract(
        f"(func (param {' '.join(['i32'] * (limits.PARAMS_PER_FUNCTION_MAX + 1))}))"),
    "RESULTS_PER_FUNCTION_MAX": lambda: contract(
        f"(type (func (result {' '.join(['i32'] * (limits.RESULTS_PER_FUNCTION_MAX + 1))})))"),
    "LOCALS_PER_FUNCTION_MAX": lambda: contract(
        f"(func (local {' '.join(['i32'] * (limits.LOCALS_PER_FUNCTION_MAX + 1))}))"),
    "FUNCTION_BODY_BYTES_MAX": lambda: contract(
        "(func " + "(nop)" * (limits.FUNCTION_BODY_BYTES_MAX + 1) + ")"),
    "GLOBALS_MAX": lambda: contract("(global i32 (i32.const 0))" * (limits.GLOBALS_MAX + 1)),
    "TABLE_ELEMENTS_MAX": lambda: contract(f"(table {limits.TABLE_ELEMENTS_MAX + 1} funcref)"),
    "ELEMENT_SEGMENTS_MAX": lambda: contract(
        "(table 1 funcref) (func $f)" + "(elem (i32.const 0) $f)"
        * (limits.ELEMENT_SEGMENTS_MAX + 1)),
    "DATA_SEGMENTS_MAX": lambda: contract('(data (i32.const 0) "")'
                                          * (limits.DATA_SEGMENTS_MAX + 1)),
    "IMPORTS_MAX": lambda: contract(
        f'(import "{abi.HOST_MODULE}" "gas_left" (func (result i64)))'
        * (limits.IMPORTS_MAX + 1)),
    "EXPORTS_MAX": lambda: contract("".join(
        f'(func (export "m{i}"))' for i in range(limits.EXPORTS_MAX + 1))),
    "MEMORY_PAGES_INITIAL_MAX": lambda: contract(
        RUN, memory=f'(memory (export "memory") {limits.MEMORY_PAGES_INITIAL_MAX + 1})'),
    "MEMORY_PAGES_MAX": lambda: contract(
        RUN, memory=f'(memory (export "memory") 1 {limits.MEMORY_PAGES_MAX + 1})'),
    "OPERAND_STACK_HEIGHT_MAX": lambda: contract(
        "(func " + "(i32.const 1)" * (limits.OPERAND_STACK_HEIGHT_MAX + 1)
        + " (drop)" * (limits.OPERAND_STACK_HEIGHT_MAX + 1) + ")"),
}


@pytest.mark.parametrize("name", LIMIT_CASES.keys())
def test_limits_are_enforced(name: str) -> None:
    error = rejected(LIMIT_CASES[name]())
    assert type(error) is errors.LimitExceeded
    assert error.limit_name == name


def test_limits_at_the_bound_are_accepted() -> None:
    height = limits.OPERAND_STACK_HEIGHT_MAX
    code = contract("(func " + "(i32.const 1)" * height + " (drop)" * height + ")"
                    + f"(func (local {' '.join(['i64'] * limits.LOCALS_PER_FUNCTION_MAX)}))"
                    + RUN,
                    memory=f'(memory (export "memory") {limits.MEMORY_PAGES_INITIAL_MAX} '
                    f"{limits.MEMORY_PAGES_MAX})")
    prepare(code)


# --- instruction streams -------------------------------------------------------------

STREAMS: dict[str, tuple[bytes, str]] = {
    "unknown_opcode": (b"\xc5\x0b", "unknown opcode"),
    "else_without_if": (b"\x05\x0b", "else without"),
    "stack_underflow": (b"\x6a\x0b", "underflow"),
    "branch_too_deep": (b"\x0c\x05\x0b", "branch depth"),
    "end_missing": (b"\x02\x40\x0b", "unexpected end"),
    "local_out_of_range": (b"\x20\x09\x1a\x0b", "local index"),
    "call_out_of_range": (b"\x10\x30\x0b", "function index"),
}


@pytest.mark.parametrize("case", STREAMS.values(), ids=STREAMS.keys())
def test_instruction_stream_defects_name_function_and_offset(case: tuple[bytes, str]) -> None:
    instructions, what = case
    # Pad with nops *before* the instructions so the body keeps its size.
    code = contract('(func (export "run")) (func $spare (nop) (nop) (nop) (nop) (nop) (nop))')
    original = b"\x01" * 6 + b"\x0b"
    padded = b"\x01" * (len(original) - len(instructions)) + instructions
    if instructions == b"\x02\x40\x0b":  # a block whose end is the function's end
        padded = b"\x01" * (len(original) - 3) + instructions
    error = rejected(code.replace(original, padded))
    assert error.code in ("invalid_wasm", "truncated")
    assert what in error.message
    assert "function 1" in error.message
    assert "offset" in error.message
