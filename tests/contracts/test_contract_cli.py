"""`zonechain contract new` and `zonechain contract build`, end to end."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from zonechain.node.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main


def test_new_then_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["contract", "new", "escrow", "--dir", "contracts"]) == EXIT_OK
    folder = tmp_path / "contracts" / "escrow"
    assert sorted(p.name for p in folder.iterdir()) == [
        "escrow.abi.json", "escrow.zig", "test_escrow.py",
    ]
    capsys.readouterr()
    assert main(["contract", "build", "contracts/escrow", "--out", "out"]) == EXIT_OK
    printed = capsys.readouterr().out
    code = (tmp_path / "out" / "escrow.wasm").read_bytes()
    assert f"code hash: {hashlib.sha256(code).hexdigest()}" in printed
    assert (tmp_path / "out" / "escrow.abi.json").is_file()


def test_build_defaults_to_a_build_folder_beside_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["contract", "new", "ledger", "--dir", str(tmp_path), "--lang", "c"]) == EXIT_OK
    assert main(["contract", "build", str(tmp_path / "ledger")]) == EXIT_OK
    assert (tmp_path / "ledger" / "build" / "ledger.wasm").is_file()
    assert "code hash:" in capsys.readouterr().out


def test_scaffolded_test_passes(tmp_path: Path) -> None:
    assert main(["contract", "new", "vault", "--dir", str(tmp_path)]) == EXIT_OK
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "vault")],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "5 passed" in completed.stdout


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["contract", "new", "Not-Valid"], "not a valid contract name"),
        (["contract", "build", "/nonexistent/contract"], "no such file or directory"),
        (["contract"], "a subcommand is required"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    error = capsys.readouterr().err
    assert fragment in error
    assert "Traceback" not in error


def test_existing_folder_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["contract", "new", "twice", "--dir", str(tmp_path)]) == EXIT_OK
    source = tmp_path / "twice" / "twice.zig"
    source.write_text("// edited\n")
    assert main(["contract", "new", "twice", "--dir", str(tmp_path)]) == EXIT_USAGE
    assert "already exists" in capsys.readouterr().err
    assert source.read_text() == "// edited\n"


def test_compile_error_exits_1_with_the_compiler_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["contract", "new", "oops", "--dir", str(tmp_path)]) == EXIT_OK
    source = tmp_path / "oops" / "oops.zig"
    source.write_text(source.read_text() + "\nexport fn broken() void { undefined_name(); }\n")
    capsys.readouterr()
    assert main(["contract", "build", str(tmp_path / "oops")]) == EXIT_FAILED
    error = capsys.readouterr().err
    assert "use of undeclared identifier 'undefined_name'" in error
    assert "Traceback" not in error


def test_bad_abi_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "new", "badabi", "--dir", str(tmp_path)]) == EXIT_OK
    (tmp_path / "badabi" / "badabi.abi.json").write_text('{"abi_version": 1}')
    assert main(["contract", "build", str(tmp_path / "badabi")]) == EXIT_USAGE
    assert "missing field 'contract'" in capsys.readouterr().err
