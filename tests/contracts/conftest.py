"""Contracts built once per test session (a cold Zig build takes seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zonechain.contracts.toolchain import BuildResult, build_contract

REPOSITORY = Path(__file__).resolve().parents[2]
TOKEN_DIR = REPOSITORY / "contracts" / "zones" / "token"
PROBE_DIR = Path(__file__).resolve().parent / "probe"


@pytest.fixture(scope="session")
def token_build() -> BuildResult:
    return build_contract(TOKEN_DIR)


@pytest.fixture(scope="session")
def probe_build() -> BuildResult:
    return build_contract(PROBE_DIR)
