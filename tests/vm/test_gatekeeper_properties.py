"""Properties of the gatekeeper over generated, mutated and random inputs.

- whatever the bytes, ``check``/``prepare`` raise nothing but DeployError;
- generated valid modules pass the gatekeeper's own checks and wasmtime's
  validator (with the VM's features), and their instrumented form validates,
  is deterministic and computes the same results as the original.
"""

from __future__ import annotations

import contextlib
import struct

import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vm.wat import contract, make_engine, run_instrumented, run_plain, split_sections
from zonechain.vm.errors import DeployError
from zonechain.vm.gatekeeper import check, check_structure, prepare
from zonechain.vm.wasm.writer import encode_u32

RICH_FIXTURE = contract("""
  (type $binary (func (param i32 i32) (result i32)))
  (import "zonechain" "input_read" (func $input (param i32 i32) (result i32)))
  (import "zonechain" "block_height" (func $height (result i64)))
  (global $counter (mut i64) (i64.const 0))
  (global $constant f64 (f64.const 2.5))
  (table 2 funcref)
  (func $add (type $binary) (i32.add (local.get 0) (local.get 1)))
  (func $pick (type $binary) (select (local.get 0) (local.get 1) (i32.const 1)))
  (elem (i32.const 0) $add $pick)
  (func $pair (result i32 i64) (i32.const 1) (i64.const 2))
  (func (export "run") (local i32 f64)
    (global.set $counter (i64.add (global.get $counter) (call $height)))
    (drop (call $input (i32.const 0) (i32.const 16)))
    (local.set 0 (call_indirect (type $binary) (i32.const 3) (i32.const 4) (i32.const 1)))
    (local.set 1 (f64.mul (global.get $constant) (f64.convert_i32_s (local.get 0))))
    (i32.store offset=8 (i32.const 0) (i32.trunc_sat_f64_s (local.get 1)))
    (block $out (loop $again
      (br_if $out (i32.eqz (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br $again)))
    (drop (memory.grow (i32.const 1)))
    (memory.fill (i32.const 0) (i32.const 0) (i32.const 4))
    (drop (call $pair)) (drop)
    (drop (i64.extend8_s (i64.const 255))))
  (func (export "init"))
  (data (i32.const 16) "zonechain")
""")


def only_deploy_errors(code: bytes) -> None:
    with contextlib.suppress(DeployError):
        prepare(code)


def test_rich_fixture_is_accepted() -> None:
    prepared = prepare(RICH_FIXTURE)
    assert prepared.methods == ("run",)
    assert prepared.has_init


def section_boundaries(code: bytes) -> set[int]:
    """Prefix lengths that end exactly between sections (a shorter valid module)."""
    boundaries = set()
    position = 8
    for _, payload in split_sections(code):
        position += 1 + len(encode_u32(len(payload))) + len(payload)
        boundaries.add(position)
    return boundaries


def test_every_truncation_raises_deploy_error() -> None:
    boundaries = section_boundaries(RICH_FIXTURE)
    for length in range(len(RICH_FIXTURE)):
        if length in boundaries:
            continue
        try:
            check(RICH_FIXTURE[:length])
        except DeployError:
            continue
        raise AssertionError(f"prefix of {length} bytes was accepted")


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_deploy_errors(data: bytes) -> None:
    only_deploy_errors(data)
    only_deploy_errors(b"\x00asm\x01\x00\x00\x00" + data)


@settings(max_examples=400)
@given(st.lists(st.tuples(st.integers(0, len(RICH_FIXTURE) - 1), st.integers(0, 255),
                          st.sampled_from(["set", "insert", "delete"])),
                min_size=1, max_size=4))
def test_mutated_modules_raise_only_deploy_errors(
    mutations: list[tuple[int, int, str]],
) -> None:
    code = bytearray(RICH_FIXTURE)
    for requested, value, how in mutations:
        position = min(requested, len(code) - 1)
        if how == "set":
            code[position] = value
        elif how == "insert":
            code.insert(position, value)
        else:
            del code[position]
    only_deploy_errors(bytes(code))


# --- generated valid modules ----------------------------------------------------------

FUNCTION_COUNT = 4
BINARY_OPS = ["i32.add", "i32.sub", "i32.mul", "i32.and", "i32.or", "i32.xor", "i32.shl",
              "i32.rotl", "i32.eq", "i32.lt_s", "i32.gt_u", "i32.div_u"]
UNARY_OPS = ["i32.eqz", "i32.clz", "i32.popcnt", "i32.extend8_s", "i32.extend16_s"]


@st.composite
def i32_expression(draw: st.DrawFn, function: int, depth: int) -> str:
    leaves = ["(local.get 0)", "(local.get 1)", "(local.get 2)", "(global.get $g)",
              f"(i32.const {draw(st.integers(-(2**31), 2**31 - 1))})",
              "(memory.size)"]
    if depth <= 0:
        return draw(st.sampled_from(leaves))

    def sub() -> str:
        return draw(i32_expression(function, depth - 1))

    kind = draw(st.integers(0, 12))
    if kind == 0:
        return draw(st.sampled_from(leaves))
    if kind == 1:
        return f"({draw(st.sampled_from(BINARY_OPS))} {sub()} {sub()})"
    if kind == 2:
        return f"({draw(st.sampled_from(UNARY_OPS))} {sub()})"
    if kind == 3:
        return f"(if (result i32) {sub()} (then {sub()}) (else {sub()}))"
    if kind == 4:
        return f"(block $b (result i32) (drop (br_if $b {sub()} {sub()})) {sub()})"
    if kind == 5 and function > 0:
        callee = draw(st.integers(0, function - 1))
        return f"(call $f{callee} {sub()} {sub()})"
    if kind == 6 and function > 0:
        slot = draw(st.integers(0, function - 1))
        return f"(call_indirect (type $t) {sub()} {sub()} (i32.const {slot}))"
    if kind == 7:
        return f"(i32.load offset={draw(st.integers(0, 64))} (i32.and {sub()} (i32.const 255)))"
    if kind == 8:
        return f"(local.tee 2 {sub()})"
    if kind == 9:
        return (f"(i32.trunc_sat_f64_s (f64.mul (f64.convert_i32_s {sub()}) "
                f"(f64.const {draw(st.floats(-1e6, 1e6, allow_nan=False))!r})))")
    if kind == 10:
        return f"(select {sub()} {sub()} {sub()})"
    if kind == 11:
        return f"(block (result i32 i32) {sub()} {sub()}) (i32.add)"
    return f"(memory.grow (i32.and {sub()} (i32.const 1)))"


@st.composite
def generated_contract(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int]]]:
    functions = []
    for index in range(FUNCTION_COUNT):
        body = draw(i32_expression(index, draw(st.integers(1, 4))))
        functions.append(
            f"(func $f{index} (type $t) (local i32)"
            f" (global.set $g (i32.add (global.get $g) (i32.const 1))) {body})"
        )
    calls = draw(st.lists(st.tuples(st.integers(-100, 100), st.integers(-100, 100)),
                          min_size=1, max_size=3))
    stores = " ".join(
        f"(i32.store (i32.const {1024 + 4 * n}) (call $f{FUNCTION_COUNT - 1} "
        f"(i32.const {a}) (i32.const {b})))"
        for n, (a, b) in enumerate(calls)
    )
    table = " ".join(f"$f{i}" for i in range(FUNCTION_COUNT))
    code = contract(f"""
      (type $t (func (param i32 i32) (result i32)))
      (global $g (mut i32) (i32.const 0))
      (table {FUNCTION_COUNT} funcref)
      (elem (i32.const 0) {table})
      {" ".join(functions)}
      (func (export "run") {stores})""", memory='(memory (export "memory") 1 4)')
    return code, calls


@settings(max_examples=60)
@given(generated_contract())
def test_generated_modules_pass_both_validators_and_behave_the_same(
    generated: tuple[bytes, list[tuple[int, int]]],
) -> None:
    code, calls = generated
    check_structure(code)  # the gatekeeper's own checks, without wasmtime
    engine = make_engine()
    wasmtime.Module.validate(engine, code)  # ... agree with wasmtime's validator
    prepared = prepare(code)
    assert prepare(code).code == prepared.code  # deterministic
    wasmtime.Module.validate(engine, prepared.code)

    original = run_plain(code, engine)
    instrumented = run_instrumented(prepared.code, engine)
    results = []
    for harness in (original, instrumented):
        try:
            harness.call("run")
            trapped = False
        except wasmtime.Trap:
            trapped = True
        memory = harness.instance.exports(harness.store)["memory"]
        assert isinstance(memory, wasmtime.Memory)
        raw = memory.read(harness.store, 1024, 1024 + 4 * len(calls))
        results.append((trapped, struct.unpack(f"<{len(calls)}i", raw)))
    assert results[0] == results[1]
