"""The installed `zonechain` script end to end: real processes, real exit codes, Ctrl-C."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sdk.fake_node import TOKEN_ABI_PATH, FakeNode

PASSPHRASE_ENV = "ZC_TEST_PASSPHRASE"
LINE_WAIT_S = 60.0
"""Deadline for the first event line (a cold interpreter start on a busy machine)."""
EXIT_WAIT_S = 30.0


def zonechain_script() -> str:
    beside = Path(sys.executable).parent / "zonechain"
    found = str(beside) if beside.exists() else shutil.which("zonechain")
    if found is None:
        pytest.skip("the zonechain console script is not installed")
    return found


@pytest.fixture
def node() -> Iterator[FakeNode]:
    with FakeNode() as running:
        yield running


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, **{PASSPHRASE_ENV: "subprocess pass", "ZONECHAIN_KEYS_DIR":
                               str(tmp_path / "keys"), "ZONECHAIN_ZONE": "pay"})


def zonechain(environment: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([zonechain_script(), *argv], capture_output=True, text=True,
                          env=environment, timeout=120, check=False)


def deployed_token(node: FakeNode, environment: dict[str, str], tmp_path: Path) -> str:
    build = tmp_path / "build"
    build.mkdir()
    (build / "token.wasm").write_bytes(b"\0asm\x01\0\0\0")
    shutil.copy(TOKEN_ABI_PATH, build / "token.abi.json")
    created = zonechain(environment, "keys", "new", "ops", "--passphrase-env", PASSPHRASE_ENV)
    assert created.returncode == 0, created.stderr
    deployed = zonechain(environment, "deploy", str(build), "--key", "ops", "--passphrase-env",
                         PASSPHRASE_ENV, "--init-args", '{"name": "Fake", "symbol": "FK", '
                         '"decimals": 2}', "--node", node.endpoint, "--json")
    assert deployed.returncode == 0, deployed.stderr
    return str(json.loads(deployed.stdout)["contract"])


def test_script_deploys_calls_and_fails_cleanly(node: FakeNode, environment: dict[str, str],
                                                tmp_path: Path) -> None:
    token = deployed_token(node, environment, tmp_path)
    owner = json.loads(zonechain(environment, "keys", "show", "ops", "--json").stdout)["address"]
    abi = ["--abi", str(TOKEN_ABI_PATH), "--node", node.endpoint]
    minted = zonechain(environment, "call", token, "mint", json.dumps([owner, 9]), *abi,
                       "--key", "ops", "--passphrase-env", PASSPHRASE_ENV, "--json")
    assert minted.returncode == 0 and json.loads(minted.stdout)["status"] == "success"
    failed = zonechain(environment, "call", token, "transfer", json.dumps([owner, 10]), *abi,
                       "--key", "ops", "--passphrase-env", PASSPHRASE_ENV)
    assert failed.returncode == 1 and "aborted: insufficient balance" in failed.stderr
    bad = zonechain(environment, "query", token, "balance_of", "[1]", *abi)
    assert bad.returncode == 2 and "'owner'" in bad.stderr
    for result in (failed, bad):
        assert "Traceback" not in result.stderr


def read_line(process: subprocess.Popen[str], deadline_s: float) -> str:
    """The next stdout line of ``process``, waiting at most ``deadline_s``."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=deadline_s):
            raise AssertionError(f"no output within {deadline_s} s")
    return process.stdout.readline()


def test_events_follow_exits_130_on_ctrl_c(node: FakeNode, environment: dict[str, str],
                                           tmp_path: Path) -> None:
    token = deployed_token(node, environment, tmp_path)
    owner = json.loads(zonechain(environment, "keys", "show", "ops", "--json").stdout)["address"]
    minted = zonechain(environment, "call", token, "mint", json.dumps([owner, 3]), "--abi",
                       str(TOKEN_ABI_PATH), "--key", "ops", "--passphrase-env", PASSPHRASE_ENV,
                       "--node", node.endpoint)
    assert minted.returncode == 0, minted.stderr
    command = [zonechain_script(), "events", token, "--abi", str(TOKEN_ABI_PATH), "--follow",
               "--node", node.endpoint, "--json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=environment) as process:
        try:
            line = read_line(process, LINE_WAIT_S)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=EXIT_WAIT_S)
        finally:
            process.kill()
        assert process.stderr is not None
        errors = process.stderr.read()
    assert json.loads(line)["fields"] == {"to": owner, "amount": 3}
    assert code == 130, errors
    assert "Traceback" not in errors and f"--cursor {node.chain.height()}:1" in errors
