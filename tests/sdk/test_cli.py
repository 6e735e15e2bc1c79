"""The `zonechain keys|deploy|call|query|tx|events` commands against the fake node.

Most tests call ``main([...])`` in-process; test_cli_subprocess.py runs the
installed ``zonechain`` script for the end-to-end paths (Ctrl-C included).
"""

from __future__ import annotations

import getpass
import inspect
import json
import shutil
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.sdk.fake_node import TOKEN_ABI_PATH, FakeNode
from zonechain.node.cli import main
from zonechain.node.config import Genesis, GenesisValidator, HostPort, save_genesis
from zonechain.node.crypto import PrivateKey
from zonechain.node.types.receipt import Event
from zonechain.sdk import cli, errors
from zonechain.sdk.keys import SCRYPT_N_MIN, Key, load_key, save_key
from zonechain.sdk.responses import EventRecord
from zonechain.sdk.transactions import to_address
from zonechain.vm.state import contract_meta_key

PASSPHRASE_ENV = "ZC_TEST_PASSPHRASE"
PASSPHRASE = "correct horse"
ALICE = Key.from_seed(b"\x0a" * 32)
BOB = Key.from_seed(b"\x0b" * 32)

Run = tuple[int, str, str]


@pytest.fixture
def node() -> Iterator[FakeNode]:
    with FakeNode() as running:
        yield running


@pytest.fixture
def alice_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    return save_key(ALICE, tmp_path / "alice.key.json", PASSPHRASE, scrypt_n=SCRYPT_N_MIN)


@pytest.fixture
def build_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "build"
    folder.mkdir()
    (folder / "token.wasm").write_bytes(b"\0asm\x01\0\0\0")
    shutil.copy(TOKEN_ABI_PATH, folder / "token.abi.json")
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def signer(node: FakeNode, key_file: Path) -> list[str]:
    return ["--node", node.endpoint, "--key", str(key_file), "--passphrase-env", PASSPHRASE_ENV,
            "--zone", "pay"]


@pytest.fixture
def token(capsys: pytest.CaptureFixture[str], node: FakeNode, alice_file: Path,
          build_folder: Path) -> str:
    code, out, _ = run(capsys, "deploy", str(build_folder), "--init-args", '["Fake", "FK", 2]',
                       "--json", *signer(node, alice_file))
    assert code == 0
    (document,) = json_lines(out)
    assert document["status"] == "success" and document["abi"] == "token"
    return str(document["contract"])


def call(capsys: pytest.CaptureFixture[str], node: FakeNode, key_file: Path, contract: str,
         method: str, args: str, *extra: str) -> Run:
    return run(capsys, "call", contract, method, args, "--abi", str(TOKEN_ABI_PATH),
               *signer(node, key_file), *extra)


# --- exit codes ------------------------------------------------------------------------------


def sdk_exception_classes() -> set[type[errors.ZonechainError]]:
    found: set[type[errors.ZonechainError]] = set()
    pending: list[type[errors.ZonechainError]] = [errors.ZonechainError]
    while pending:
        current = pending.pop()
        if current.__module__.startswith("zonechain.sdk") and current not in found:
            found.add(current)
            pending.extend(current.__subclasses__())
    for _, member in inspect.getmembers(errors, inspect.isclass):
        if issubclass(member, errors.ZonechainError):
            found.add(member)
    return found


def test_every_sdk_exception_class_has_an_exit_code() -> None:
    classes = sdk_exception_classes()
    assert len(classes) >= 20
    unmapped = sorted(cls.__name__ for cls in classes if cls not in cli.EXIT_CODES)
    assert unmapped == [], f"map these in sdk/cli.py EXIT_CODES: {unmapped}"
    assert set(cli.EXIT_CODES.values()) <= {1, 2, 3, 4}


@pytest.mark.parametrize(("error", "code"), [
    (errors.ConnectionFailed("x"), 3), (errors.Timeout("x", b"\1" * 32), 3),
    (errors.NodeError("x"), 3), (errors.MempoolRejected("nonce_taken", "x"), 1),
    (errors.QueryFailed("aborted", "x"), 1), (errors.WrongPassphrase("x"), 2),
    (errors.AbiArgumentError("x", "amount"), 2), (errors.VerificationFailed("x"), 4),
])
def test_exit_code_of_each_kind(error: errors.ZonechainError, code: int) -> None:
    assert cli.exit_code(error) == code


# --- keys ------------------------------------------------------------------------------------


def test_keys_new_and_show_never_print_the_secret(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    code, out, _ = run(capsys, "keys", "new", "carol", "--dir", str(tmp_path / "keys"),
                       "--passphrase-env", PASSPHRASE_ENV, "--json")
    assert code == 0
    (created,) = json_lines(out)
    path = tmp_path / "keys" / "carol.key.json"
    assert created["file"] == str(path) and stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_key(path, PASSPHRASE)
    assert created["address"] == key.address_text
    assert created["public_key"] == key.public_key.hex()
    code, out, _ = run(capsys, "keys", "show", "carol", "--dir", str(tmp_path / "keys"))
    assert code == 0 and key.address_text in out
    assert key.export_seed().hex() not in out + json.dumps(created)


def test_keys_new_asks_twice_on_the_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["one", "two"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt: next(answers))
    code, _, err = run(capsys, "keys", "new", "dan", "--dir", str(tmp_path))
    assert code == 2 and "differ" in err
    assert not (tmp_path / "dan.key.json").exists()
    monkeypatch.setattr(getpass, "getpass", lambda prompt: "same")
    code, out, _ = run(capsys, "keys", "new", "dan", "--dir", str(tmp_path))
    assert code == 0 and load_key(tmp_path / "dan.key.json", "same").address_text in out


def test_keys_new_refuses_to_overwrite(capsys: pytest.CaptureFixture[str],
                                       alice_file: Path) -> None:
    before = alice_file.read_bytes()
    code, _, err = run(capsys, "keys", "new", str(alice_file), "--passphrase-env",
                       PASSPHRASE_ENV)
    assert code == 2 and "exists" in err
    assert alice_file.read_bytes() == before


@pytest.mark.parametrize("content", [None, "not json", '{"kind": "something-else"}'])
def test_keys_show_of_a_missing_or_bad_file(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            content: str | None) -> None:
    path = tmp_path / "bad.key.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run(capsys, "keys", "show", str(path), "--json")
    assert code == 2 and str(path) in err
    assert json_lines(out)[0]["error"]["kind"] == "KeyFileError"


# --- deploy, call, query ---------------------------------------------------------------------


def test_deploy_call_query_round_trip(capsys: pytest.CaptureFixture[str], node: FakeNode,
                                      alice_file: Path, token: str) -> None:
    assert to_address(token) in node.chain.contracts
    code, out, _ = call(capsys, node, alice_file, token, "mint",
                        json.dumps([ALICE.address_text, 1_000]), "--json")
    assert code == 0 and json_lines(out)[0]["events"] == [
        {"event": "mint", "fields": {"to": ALICE.address_text, "amount": 1_000}}]
    code, out, _ = call(capsys, node, alice_file, token, "transfer",
                        json.dumps({"to": BOB.address_text, "amount": "250"}))
    assert code == 0 and "transfer" in out and f"to={BOB.address_text}" in out
    code, out, _ = run(capsys, "query", token, "balance_of", json.dumps([BOB.address_text]),
                       "--abi", str(TOKEN_ABI_PATH), "--node", node.endpoint, "--json")
    assert code == 0 and json_lines(out)[0]["result"] == 250
    code, out, _ = run(capsys, "query", token, "name", "--abi", str(TOKEN_ABI_PATH),
                       "--node", node.endpoint)
    assert (code, out.strip()) == (0, "Fake")


def test_contract_error_exits_1_with_code_and_message(
    capsys: pytest.CaptureFixture[str], node: FakeNode, alice_file: Path, token: str
) -> None:
    code, out, err = call(capsys, node, alice_file, token, "transfer",
                          json.dumps([BOB.address_text, 5]), "--json")
    assert code == 1
    assert "ContractError" in err and "aborted: insufficient balance" in err
    error = json_lines(out)[0]["error"]
    assert (error["code"], error["message"], error["exit_code"]) == (
        "aborted", "insufficient balance", 1)
    code, _, err = call(capsys, node, alice_file, token, "mint",
                        json.dumps([BOB.address_text, 5]), "--gas-limit", "10")
    assert code == 1 and "OutOfGas" in err


@pytest.mark.parametrize(("args", "needle"), [
    ("[1, 2", "not valid JSON"),
    ('"just text"', "JSON array"),
    ('["zc123", 5]', "'to'"),
    (json.dumps([BOB.address_text, -1]), "'amount'"),
    (json.dumps([BOB.address_text, 1.5]), "'amount'"),
    (json.dumps({"to": BOB.address_text}), "'amount'"),
    (json.dumps(["0xzz", 1]), "'to'"),
])
def test_bad_arguments_exit_2_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], node: FakeNode, alice_file: Path, token: str,
    args: str, needle: str
) -> None:
    submissions = node.chain.submissions
    code, _, err = call(capsys, node, alice_file, token, "transfer", args)
    assert code == 2 and needle in err
    assert node.chain.submissions == submissions


def test_wrong_passphrase_and_missing_key_exit_2(
    capsys: pytest.CaptureFixture[str], node: FakeNode, alice_file: Path, token: str,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mint = json.dumps([BOB.address_text, 1])
    submissions = node.chain.submissions
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    code, _, err = call(capsys, node, alice_file, token, "mint", mint)
    assert code == 2 and "WrongPassphrase" in err
    code, _, err = call(capsys, node, tmp_path / "nobody.key.json", token, "mint", mint)
    assert code == 2 and "no such key file" in err
    monkeypatch.delenv(PASSPHRASE_ENV)
    code, _, err = call(capsys, node, alice_file, token, "mint", mint)
    assert code == 2 and PASSPHRASE_ENV in err
    assert node.chain.submissions == submissions


def test_method_kind_is_checked(capsys: pytest.CaptureFixture[str], node: FakeNode,
                               alice_file: Path, token: str) -> None:
    code, _, err = call(capsys, node, alice_file, token, "balance_of", "[]")
    assert code == 2 and "zonechain query" in err
    code, _, err = run(capsys, "query", token, "mint", "--abi", str(TOKEN_ABI_PATH),
                       "--node", node.endpoint)
    assert code == 2 and "zonechain call" in err
    code, _, err = run(capsys, "query", token, "frobnicate", "--abi", str(TOKEN_ABI_PATH),
                       "--node", node.endpoint)
    assert code == 2 and "frobnicate" in err


def unused_endpoint() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def test_unreachable_node_exits_3(capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cli.NODES_ENV, unused_endpoint())
    code, out, err = run(capsys, "tx", "ab" * 32, "--timeout", "2", "--json")
    assert code == 3 and "ConnectionFailed" in err
    assert json_lines(out)[0]["error"]["exit_code"] == 3


def test_bad_node_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tx", "ab" * 32, "--node", "no-port", "--json")
    assert code == 2 and "host:port" in err
    assert json_lines(out)[0]["error"]["kind"] == "UsageError"


# --- tx --------------------------------------------------------------------------------------


def test_tx_shows_status_and_receipt(capsys: pytest.CaptureFixture[str], node: FakeNode,
                                     alice_file: Path, token: str) -> None:
    code, out, _ = call(capsys, node, alice_file, token, "mint",
                        json.dumps([BOB.address_text, 7]), "--json")
    tx_hash = json_lines(out)[0]["tx_hash"]
    code, out, _ = run(capsys, "tx", tx_hash, "--node", node.endpoint, "--json")
    (document,) = json_lines(out)
    assert code == 0 and document["status"] == "success" and document["pending"] is False
    assert document["height"] == node.chain.height()
    assert document["events"][0]["topic"] == "mint"
    code, out, _ = run(capsys, "tx", tx_hash, "--node", node.endpoint)
    assert code == 0 and "success" in out and tx_hash in out


def test_tx_of_a_failed_or_unknown_transaction(
    capsys: pytest.CaptureFixture[str], node: FakeNode, alice_file: Path, token: str
) -> None:
    _, out, _ = call(capsys, node, alice_file, token, "transfer",
                     json.dumps([BOB.address_text, 5]), "--json")
    failed = json_lines(out)[0]["error"]["tx_hash"]
    code, out, _ = run(capsys, "tx", failed, "--node", node.endpoint, "--json")
    assert code == 1 and json_lines(out)[0]["error_code"] == "aborted"
    code, _, err = run(capsys, "tx", "cd" * 32, "--node", node.endpoint)
    assert code == 2 and "does not know" in err
    code, _, err = run(capsys, "tx", "xyz", "--node", node.endpoint)
    assert code == 2 and "hex" in err


# --- events ----------------------------------------------------------------------------------


def make_events(capsys: pytest.CaptureFixture[str], node: FakeNode, key_file: Path,
                token: str, count: int) -> None:
    for amount in range(1, count + 1):
        code, _, _ = call(capsys, node, key_file, token, "mint",
                          json.dumps([BOB.address_text, amount]))
        assert code == 0


def test_events_are_decoded_and_resumable(capsys: pytest.CaptureFixture[str], node: FakeNode,
                                          alice_file: Path, token: str) -> None:
    make_events(capsys, node, alice_file, token, 3)
    arguments = ["events", token, "--abi", str(TOKEN_ABI_PATH), "--node", node.endpoint]
    code, out, err = run(capsys, *arguments, "--json")
    records = json_lines(out)
    assert code == 0 and [r["fields"]["amount"] for r in records] == [1, 2, 3]
    assert records[0]["fields"]["to"] == BOB.address_text and records[0]["event"] == "mint"
    assert f"--cursor {records[-1]['cursor']}" in err
    code, out, _ = run(capsys, *arguments, "--cursor", records[0]["cursor"], "--json")
    assert [r["fields"]["amount"] for r in json_lines(out)] == [2, 3]
    code, out, _ = run(capsys, *arguments, "--from-height", str(records[2]["height"]))
    assert code == 0 and "amount=3" in out and "amount=2" not in out


def test_events_follow_stops_on_ctrl_c_with_a_cursor(
    capsys: pytest.CaptureFixture[str], node: FakeNode, alice_file: Path, token: str,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    make_events(capsys, node, alice_file, token, 2)
    reconnects: list[float] = []

    def interrupt(seconds: float) -> None:
        reconnects.append(seconds)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "reconnect_pause", interrupt)
    code, out, err = run(capsys, "events", token, "--abi", str(TOKEN_ABI_PATH), "--follow",
                         "--node", node.endpoint, "--json")
    assert code == 130 and reconnects == [cli.FOLLOW_RECONNECT_S]
    assert len(json_lines(out)) == 2 and "--cursor" in err


# --- query --prove ---------------------------------------------------------------------------


def genesis_file(path: Path, node: FakeNode, keys: tuple[PrivateKey, ...]) -> Path:
    validators = tuple(GenesisValidator(f"v{index}", key.public_key, 1,
                                        HostPort("127.0.0.1", 1 + index))
                       for index, key in enumerate(keys))
    save_genesis(Genesis(node.chain.chain_id, 0, bytes(32), validators), path)
    return path


def test_query_prove(capsys: pytest.CaptureFixture[str], node: FakeNode, alice_file: Path,
                     token: str, tmp_path: Path) -> None:
    with node.chain.lock:  # the fake does not write contract records: give it one
        node.chain.state[contract_meta_key(to_address(token))] = b"token"
    make_events(capsys, node, alice_file, token, 2)  # two blocks: the record is provable
    trusted = genesis_file(tmp_path / "genesis.json", node, node.chain.validator_keys)
    arguments = ["query", token, "balance_of", json.dumps([BOB.address_text]), "--abi",
                 str(TOKEN_ABI_PATH), "--node", node.endpoint, "--prove", "--json"]
    code, out, _ = run(capsys, *arguments, "--genesis", str(trusted))
    (document,) = json_lines(out)
    assert code == 0 and document["contract_proven_at"] == node.chain.height() - 1
    assert document["result"] == 3 and document["height"] == node.chain.height()
    strangers = tuple(PrivateKey.from_seed(bytes([9 + i]) * 32) for i in range(4))
    untrusted = genesis_file(tmp_path / "other.json", node, strangers)
    code, _, err = run(capsys, *arguments, "--genesis", str(untrusted))
    assert code == 4 and "VerificationFailed" in err
    code, _, err = run(capsys, *arguments)
    assert code == 2 and "genesis" in err


# --- slow or broken nodes, and the events stream ---------------------------------------------


def test_submit_timeout_exits_3_and_names_the_transaction(
    capsys: pytest.CaptureFixture[str], node: FakeNode, alice_file: Path, token: str
) -> None:
    node.stall("SubmitTransaction")
    code, out, err = call(capsys, node, alice_file, token, "mint",
                          json.dumps([BOB.address_text, 1]), "--timeout", "0.5", "--json")
    node.servicer.stall_release.set()
    error = json_lines(out)[0]["error"]
    assert code == 3 and error["kind"] == "Timeout"
    assert f"zonechain tx {error['tx_hash']}" in err


def test_events_follow_reconnects_after_a_broken_stream(
    capsys: pytest.CaptureFixture[str], node: FakeNode, alice_file: Path, token: str,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    make_events(capsys, node, alice_file, token, 2)
    node.fail("StreamEvents", grpc.StatusCode.UNAVAILABLE)
    pauses: list[float] = []

    def pause_then_interrupt(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "reconnect_pause", pause_then_interrupt)
    arguments = ["events", token, "--abi", str(TOKEN_ABI_PATH), "--node", node.endpoint, "--json"]
    code, out, err = run(capsys, *arguments, "--follow")
    assert code == 130 and "reconnecting" in err
    assert [record["fields"]["amount"] for record in json_lines(out)] == [1, 2]
    node.fail("StreamEvents", grpc.StatusCode.UNAVAILABLE)
    code, _, err = run(capsys, *arguments)
    assert code == 3 and "ConnectionFailed" in err


def test_without_follow_a_quiet_live_stream_ends_the_listing() -> None:
    release = threading.Event()
    record = EventRecord(1, b"\1" * 32, 0, Event(b"\2" * 20, b"mint", b""))

    def live_stream() -> Iterator[EventRecord]:
        yield record
        release.wait(30)  # a node at its tip: nothing more for now

    try:
        assert list(cli._background(live_stream(), quiet_s=0.3)) == [record]
    finally:
        release.set()


def test_a_stream_error_reaches_the_reader() -> None:
    def broken() -> Iterator[EventRecord]:
        raise errors.ConnectionFailed("gone")
        yield  # pragma: no cover

    with pytest.raises(errors.ConnectionFailed, match="gone"):
        list(cli._background(broken(), quiet_s=None))
