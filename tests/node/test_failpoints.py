"""Fail-points: the specification syntax, hit counting, the actions, and the registry."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from zonechain.node import failpoints
from zonechain.node.failpoints import (
    ENVIRONMENT_VARIABLE,
    EXIT_CODE,
    FAILPOINT_NAMES,
    FailpointSpecError,
    FailpointTriggered,
    configure,
    failpoint,
    parse_spec,
    reset,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCE_FOLDERS = ("vm", "node", "sdk", "contracts", "benchmarks")
FAILPOINT_CALL = re.compile(r"""\bfailpoint\(\s*["']([^"']+)["']\s*\)""")


@pytest.fixture(autouse=True)
def no_failpoints_after() -> Iterator[None]:
    yield
    reset()


def test_parse_spec_reads_actions_and_hits() -> None:
    parsed = parse_spec(
        " store.commit.before_write=exit@3 , store.prune.after_write=raise,"
        "store.open.before_init=off,"
    )
    assert parsed == {
        "store.commit.before_write": ("exit", 3),
        "store.prune.after_write": ("raise", 1),
        "store.open.before_init": ("off", 1),
    }
    assert parse_spec("") == {}


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("store.nope=exit", "unknown fail-point 'store.nope'"),
        ("store.commit.before_write", "is not NAME=ACTION"),
        ("store.commit.before_write=explode", "unknown action 'explode'"),
        ("store.commit.before_write=exit@0", "not a positive integer"),
        ("store.commit.before_write=exit@x", "not a positive integer"),
    ],
)
def test_malformed_spec_is_a_typed_one_line_error(spec: str, fragment: str) -> None:
    with pytest.raises(FailpointSpecError) as caught:
        configure(spec)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_disabled_failpoint_does_nothing() -> None:
    for name in FAILPOINT_NAMES:
        failpoint(name)


def test_raise_fires_on_the_requested_hit_and_after() -> None:
    configure("store.commit.before_write=raise@3")
    failpoint("store.commit.before_write")
    failpoint("store.commit.after_write")  # another point: not counted
    failpoint("store.commit.before_write")
    for _ in range(2):
        with pytest.raises(FailpointTriggered) as caught:
            failpoint("store.commit.before_write")
        assert caught.value.name == "store.commit.before_write"


def test_off_and_reset_disable() -> None:
    configure("store.commit.before_write=off")
    failpoint("store.commit.before_write")
    configure("store.commit.before_write=raise")
    reset()
    failpoint("store.commit.before_write")


def test_configure_replaces_previous_configuration() -> None:
    configure("store.commit.before_write=raise")
    configure("store.commit.after_write=raise")
    failpoint("store.commit.before_write")
    with pytest.raises(FailpointTriggered):
        failpoint("store.commit.after_write")


def test_registry_names_are_unique_and_well_formed() -> None:
    assert len(set(FAILPOINT_NAMES)) == len(FAILPOINT_NAMES)
    for name in FAILPOINT_NAMES:
        assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", name), name


def _failpoint_calls() -> set[str]:
    names: set[str] = set()
    for folder in SOURCE_FOLDERS:
        for source in sorted((ROOT / folder).rglob("*.py")):
            if source == Path(failpoints.__file__).resolve():
                continue
            names.update(FAILPOINT_CALL.findall(source.read_text(encoding="utf-8")))
    return names


def test_every_failpoint_in_the_code_is_registered_and_every_registered_one_is_used() -> None:
    used = _failpoint_calls()
    assert used - set(FAILPOINT_NAMES) == set(), "failpoint(...) calls with unregistered names"
    assert set(FAILPOINT_NAMES) - used == set(), "registered names that no code reaches"


def _run_child(code: str, spec: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, **{ENVIRONMENT_VARIABLE: spec})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment,
        capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.slow
def test_exit_action_from_environment_kills_at_once_with_137() -> None:
    code = (
        "from zonechain.node.failpoints import failpoint\n"
        "for i in range(5):\n"
        "    print(i, flush=True)\n"
        "    failpoint('store.commit.before_write')\n"
        "print('finished')\n"
    )
    result = _run_child(code, "store.commit.before_write=exit@2")
    assert result.returncode == EXIT_CODE
    assert result.stdout.split() == ["0", "1"]
    assert "fail-point store.commit.before_write: exit 137" in result.stderr


@pytest.mark.slow
def test_malformed_environment_fails_on_import_with_the_reason() -> None:
    result = _run_child("import zonechain.node.failpoints", "store.commit.nope=exit")
    assert result.returncode != 0
    assert "unknown fail-point 'store.commit.nope'" in result.stderr
