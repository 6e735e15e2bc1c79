"""Two separate processes reach the same outcomes, gas and writes; NaN bits are canonical."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vm.runtime_support import NAN_WAT, call, deploy, determinism_digest
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import DictState

ROOT = Path(__file__).resolve().parents[2]
CANONICAL_F64_NAN = 0x7FF8_0000_0000_0000
CANONICAL_F32_NAN = 0x7FC0_0000


def digest_in_subprocess(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout.strip()


@pytest.mark.slow
def test_two_processes_agree_on_everything() -> None:
    code = "from tests.vm.runtime_support import determinism_digest; print(determinism_digest())"
    first = digest_in_subprocess(code)
    second = digest_in_subprocess(code)
    assert first == second == determinism_digest()


def nan_bits() -> tuple[int, ...]:
    vm = VirtualMachine()
    state = DictState()
    deploy(vm, state, NAN_WAT)
    outcome = call(vm, state, "nans", bytes(8))
    assert outcome.ok
    return struct.unpack("<QQQQI", outcome.return_data)


def test_nan_bit_patterns_are_canonical() -> None:
    assert nan_bits() == (CANONICAL_F64_NAN,) * 4 + (CANONICAL_F32_NAN,)


@pytest.mark.slow
def test_nan_bit_patterns_agree_across_processes() -> None:
    code = "from tests.vm.test_determinism import nan_bits; print(nan_bits())"
    assert digest_in_subprocess(code) == digest_in_subprocess(code) == str(nan_bits())
