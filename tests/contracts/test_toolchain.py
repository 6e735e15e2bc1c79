"""The contract toolchain: reproducible, checked builds and author-friendly errors."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
import wasmtime

from tests.contracts.conftest import TOKEN_DIR
from zonechain.contracts.abi import load_abi
from zonechain.contracts.scaffold import scaffold
from zonechain.contracts.toolchain import (
    BadContractAbi,
    BuildError,
    BuildResult,
    ContractNotFound,
    build_contract,
    check_module,
    data_segment_flags,
    find_contract,
    wasm_sections,
)
from zonechain.vm import gatekeeper


def exports_of(code: bytes) -> list[str]:
    return sorted(item.name for item in wasmtime.Module(wasmtime.Engine(), code).exports)


def test_same_source_from_two_directories_gives_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token_build: BuildResult
) -> None:
    first = tmp_path / "one" / "deeper" / "token"
    second = tmp_path / "two" / "token"
    shutil.copytree(TOKEN_DIR, first)
    shutil.copytree(TOKEN_DIR, second)
    listing_before = sorted(p.name for p in first.iterdir())
    monkeypatch.chdir(tmp_path / "one")
    built_first = build_contract("deeper/token", tmp_path / "out1")
    monkeypatch.chdir(second)
    built_second = build_contract(".", tmp_path / "out2")
    assert built_first.code == built_second.code == token_build.code
    assert built_first.code_hash == hashlib.sha256(built_second.code).hexdigest()
    assert (tmp_path / "out1" / "token.wasm").read_bytes() == token_build.code
    # nothing (no .zig-cache, no output) lands in the source folders
    assert sorted(p.name for p in first.iterdir()) == listing_before


def test_exports_are_exactly_the_abi_methods(token_build: BuildResult) -> None:
    assert exports_of(token_build.code) == sorted(["memory", *token_build.abi.method_names])


def test_module_has_no_custom_sections_or_passive_data(token_build: BuildResult) -> None:
    sections = wasm_sections(token_build.code)
    assert 0 not in [section_id for section_id, _ in sections]  # no names / debug info
    assert 12 not in [section_id for section_id, _ in sections]  # no data count
    for section_id, body in sections:
        if section_id == 11:
            assert set(data_segment_flags(body)) <= {0}


def test_gatekeeper_admits_the_token(token_build: BuildResult) -> None:
    info = gatekeeper.check(token_build.code)
    assert info.has_init


def test_output_files(tmp_path: Path, token_build: BuildResult) -> None:
    result = build_contract(TOKEN_DIR / "token.zig", tmp_path)
    assert result.wasm_path == tmp_path / "token.wasm"
    assert result.abi_out_path is not None
    assert load_abi(result.abi_out_path) == token_build.abi


def test_c_contract_builds_reproducibly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = scaffold("tally", tmp_path, "c")
    other = tmp_path / "elsewhere" / "tally"
    shutil.copytree(folder, other)
    monkeypatch.chdir(other)
    first = build_contract(".")
    monkeypatch.chdir(tmp_path)
    second = build_contract(folder / "tally.c")
    assert first.code == second.code
    assert exports_of(first.code) == ["get", "increment", "init", "memory", "reset"]
    gatekeeper.check(first.code)


def test_compile_error_shows_the_compiler_message(tmp_path: Path) -> None:
    folder = scaffold("broken", tmp_path)
    source = folder / "broken.zig"
    source.write_text(source.read_text().replace("zc.noArgs();", "zc.noArgs(42);"))
    with pytest.raises(BuildError) as raised:
        build_contract(folder)
    message = str(raised.value)
    assert "compile error" in message
    assert "broken.zig:" in message and "error:" in message
    assert "zonechain-build-" not in message  # staging paths are mapped back


def test_abi_method_missing_from_the_source(tmp_path: Path) -> None:
    folder = scaffold("partial", tmp_path)
    source = folder / "partial.zig"
    source.write_text(source.read_text().replace("export fn reset()", "fn reset()"))
    with pytest.raises(BuildError, match=re.escape("method 'reset' is listed in partial.abi.json")):
        build_contract(folder)


def test_abi_naming_another_contract(tmp_path: Path) -> None:
    folder = scaffold("alpha", tmp_path)
    abi_file = folder / "alpha.abi.json"
    abi_file.write_text(abi_file.read_text().replace('"contract": "alpha"', '"contract": "beta"'))
    with pytest.raises(BadContractAbi, match="'beta' but the file is named for 'alpha'"):
        build_contract(folder)
    abi_file.write_text("{}")
    with pytest.raises(BadContractAbi, match=re.escape("alpha.abi.json: top level: missing field")):
        build_contract(folder)


def test_finding_contracts(tmp_path: Path) -> None:
    with pytest.raises(ContractNotFound, match="no such file"):
        find_contract(tmp_path / "absent")
    with pytest.raises(ContractNotFound, match="found none"):
        find_contract(tmp_path)
    (tmp_path / "a.abi.json").write_text("{}")
    with pytest.raises(ContractNotFound, match=re.escape("one of a.zig or a.c")):
        find_contract(tmp_path)
    (tmp_path / "b.abi.json").write_text("{}")
    with pytest.raises(ContractNotFound, match=re.escape("a.abi.json, b.abi.json")):
        find_contract(tmp_path)
    (tmp_path / "c.rs").write_text("")
    with pytest.raises(ContractNotFound, match=re.escape("ends in .zig or .c")):
        find_contract(tmp_path / "c.rs")
    (tmp_path / "d.zig").write_text("")
    with pytest.raises(ContractNotFound, match=re.escape("d.abi.json is missing")):
        find_contract(tmp_path / "d.zig")


ABI = load_abi(TOKEN_DIR / "token.abi.json")
METHODS = "\n".join(f'(func (export "{name}"))' for name in ABI.method_names)
METHODS_WITHOUT_BURN = METHODS.replace('(export "burn")', "")


@pytest.mark.parametrize(
    ("wat", "fragment"),
    [
        (f'(module (memory (export "memory") 1) {METHODS} (func (export "extra")))',
         "extra ['extra']"),
        (f'(module (memory (export "memory") 1) {METHODS_WITHOUT_BURN})', "missing ['burn']"),
        (f'(module (import "env" "f" (func)) (memory (export "memory") 1) {METHODS})',
         "import env.f: not a host function"),
        (f'(module (import "zonechain" "caller" (func (param i64))) '
         f'(memory (export "memory") 1) {METHODS})', "signature"),
        (f'(module (memory (export "memory") 1) {METHODS} (data "passive"))',
         "passive data segment"),
        (f'(module (memory (export "memory") 1) {METHODS} (func (export "x") (param i32)))',
         "extra ['x']"),
    ],
)
def test_check_module_refuses_what_the_chain_would(wat: str, fragment: str) -> None:
    with pytest.raises(BuildError) as raised:
        check_module(bytes(wasmtime.wat2wasm(wat)), ABI)
    assert fragment in str(raised.value)


def test_check_module_refuses_custom_sections(token_build: BuildResult) -> None:
    name = b"producers"
    body = bytes([len(name)]) + name + b"\x00"
    with_custom = token_build.code + bytes([0, len(body)]) + body
    with pytest.raises(BuildError, match="custom section"):
        check_module(with_custom, token_build.abi)
