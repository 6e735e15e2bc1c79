"""The distribution maps the top-level folders under the `zonechain` namespace."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ZONECHAIN = Path(sys.executable).parent / "zonechain"


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ZONECHAIN), *arguments], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "module",
    [
        "zonechain.vm",
        "zonechain.node",
        "zonechain.proto",
        "zonechain.sdk",
        "zonechain.contracts",
        "zonechain.benchmarks",
        "zonechain.node.cli",
    ],
)
def test_namespace_modules_import(module: str) -> None:
    imported = importlib.import_module(module)
    assert imported.__name__ == module


def test_console_script_installed_and_shows_help() -> None:
    assert ZONECHAIN.exists(), "console script `zonechain` is not installed beside python"
    result = run_cli("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
