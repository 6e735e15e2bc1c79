"""mypy --strict and ruff over the whole project, as part of the test command.

mypy cannot follow setuptools' editable-install finder (which maps
``zonechain.vm`` to ``vm/``), so it is given a staging folder holding
``zonechain/<folder>`` symlinks to the real folders: the same namespace the
installed package has.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FOLDERS = ["vm", "node", "proto", "sdk", "contracts", "benchmarks"]


def run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False, env=env
    )


def test_ruff_clean() -> None:
    result = run(sys.executable, "-m", "ruff", "check", *PACKAGE_FOLDERS, "tests", "setup.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_clean(tmp_path: Path) -> None:
    namespace = tmp_path / "zonechain"
    namespace.mkdir()
    for folder in PACKAGE_FOLDERS:
        (namespace / folder).symlink_to(ROOT / folder, target_is_directory=True)
    env = dict(os.environ, MYPYPATH=str(tmp_path))
    result = run(
        sys.executable, "-m", "mypy", "--strict",
        "--cache-dir", str(ROOT / ".mypy_cache"),
        "-p", "zonechain", "-p", "tests",
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
