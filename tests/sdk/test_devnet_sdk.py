"""The SDK against a REAL 4-validator devnet (node processes): quickstart, simulate,
events across a killed node, tampered proofs.

- docs/SDK.md's quickstart runs as written: its ``console`` build line and its
  ``python`` blocks, with the endpoints and genesis given the way the doc tells
  a user to (``ZONECHAIN_NODES`` / ``ZONECHAIN_GENESIS``);
- ``simulate`` gives the gas, return data and events of the real execution
  that follows, and leaves nonce, state and mempool untouched;
- an event stream cut by kill -9 of its node resumes from its cursor on
  another node and on the restarted node, with nothing lost or repeated
  (against a fresh subscription from height 1);
- a tampered value, proof, header or certificate from a real node's Query
  answer fails verification (``VerificationFailed``).

One devnet serves the module (marked slow: multi-process); every wait has a deadline.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node.test_node_support import token_artifact
from zonechain.node.config import load_genesis
from zonechain.node.node_cli import DEVNET_TIMEOUTS, Devnet, find_base_port
from zonechain.node.service import SIMULATE_GAS_MAX
from zonechain.node.types.receipt import ReceiptStatus
from zonechain.node.types.transaction import SignedTransaction
from zonechain.proto import services_pb2
from zonechain.sdk import (
    Client,
    ConnectionFailed,
    Contract,
    EventRecord,
    InvalidRequest,
    Key,
    Timeout,
    VerificationFailed,
    Verifier,
)
from zonechain.sdk.contract import init_arguments
from zonechain.sdk.transactions import build_call
from zonechain.vm.state import contract_storage_key

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[2]
SDK_DOC = REPOSITORY / "docs" / "SDK.md"
VALIDATORS = 4
ZONE = "payments"
WAIT_S = 60.0
STREAM_DEADLINE_S = 30.0
"""A stream that has not delivered what the test expects by then fails (grpc deadline)."""
QUICKSTART_WAIT_S = 120.0
DEPLOY_GAS = 50_000_000


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    network = Devnet(tmp_path_factory.mktemp("sdk-devnet") / "net", VALIDATORS, reset=True,
                     timeouts=DEVNET_TIMEOUTS, base_port=find_base_port(VALIDATORS))
    with network:
        yield network


@pytest.fixture(scope="module")
def verifier(devnet: Devnet) -> Verifier:
    genesis = load_genesis(devnet.directory / "genesis.json")
    return Verifier.from_public_keys(
        genesis.chain_id, [(validator.public_key, validator.power)
                           for validator in genesis.validators])


@pytest.fixture(scope="module")
def alice() -> Key:
    return Key.generate()


@pytest.fixture(scope="module")
def token(devnet: Devnet, alice: Key) -> Iterator[Contract]:
    artifact = token_artifact()
    with Client(devnet.client_endpoints, timeout_s=10) as client:
        deployed = client.deploy(alice, artifact.code,
                                 init_arguments(artifact.abi, ("Token", "TOK", 2), {}),
                                 zone=ZONE, gas_limit=DEPLOY_GAS, timeout_s=WAIT_S)
        assert deployed.created_contract is not None
        proxy = Contract(client, deployed.created_contract, artifact.abi, key=alice, zone=ZONE)
        proxy.mint(alice.address, 1_000_000)
        yield proxy


# ---- the quickstart -------------------------------------------------------------------


def quickstart_blocks(kind: str) -> list[str]:
    """The fenced ``kind`` blocks of docs/SDK.md's Quickstart section, in order."""
    text = SDK_DOC.read_text(encoding="utf-8")
    section = re.search(r"^## Quickstart.*?(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert section is not None, "docs/SDK.md has no Quickstart section"
    return re.findall(rf"^```{kind}\n(.*?)^```", section.group(0), re.MULTILINE | re.DOTALL)


def test_quickstart_runs_as_written(devnet: Devnet, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "contracts").symlink_to(REPOSITORY / "contracts")
    builds = [line.removeprefix("$ ").split("#")[0].split()
              for line in quickstart_blocks("console")[0].splitlines()
              if line.startswith("$ zonechain contract build")]
    assert len(builds) == 1, builds
    built = subprocess.run([sys.executable, "-m", "zonechain.node.cli", *builds[0][1:]],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300,
                           check=False)
    assert built.returncode == 0, built.stderr
    blocks = quickstart_blocks("python")
    assert len(blocks) >= 4
    monkeypatch.setenv("ZONECHAIN_NODES", ",".join(devnet.client_endpoints))
    monkeypatch.setenv("ZONECHAIN_GENESIS", str(devnet.directory / "genesis.json"))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "quickstart"}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            for block in blocks:
                exec(compile(block, str(SDK_DOC), "exec"), namespace)
        except BaseException as error:  # reported to the test thread below
            failure.append(error)

    worker = threading.Thread(target=run, daemon=True)  # the event loop must not hang pytest
    worker.start()
    worker.join(QUICKSTART_WAIT_S)
    assert not worker.is_alive(), "the quickstart did not finish"
    assert not failure, "".join(traceback.format_exception(failure[0])) if failure else ""
    assert [event.name for event in namespace["seen"]] == ["mint", "transfer"]
    assert namespace["outcome"].receipt.status is ReceiptStatus.SUCCESS


# ---- simulate -------------------------------------------------------------------------


def test_simulate_matches_the_real_execution_and_changes_nothing(
        devnet: Devnet, token: Contract, alice: Key) -> None:
    client, bob = token.client, Key.generate()
    nonce = client.account_nonce(alice.address)
    transfer = token.abi.method("transfer").encode_args(bob.address, 321)
    tx = alice.sign(build_call(chain_id=client.chain_id, sender=alice, nonce=nonce,
                               contract=token.address, method="transfer", args=transfer,
                               zone=ZONE))
    dry = client.simulate(tx)
    assert dry.valid and dry.ok, dry
    assert [event.topic for event in dry.events] == [b"transfer"]
    unsigned = client.simulate(tx.tx)  # every rule but the signature
    assert unsigned.ok and unsigned.gas_used == dry.gas_used and unsigned.events == dry.events
    forged = client.simulate(SignedTransaction(tx.tx, flip(tx.signature)))
    assert not forged.valid and forged.error_code == "bad_signature" and forged.receipt is None
    with pytest.raises(InvalidRequest):  # the door: a request without a tx
        client._invoke("Simulate", services_pb2.SimulateRequest(), idempotent=True,
                       timeout_s=None)
    with pytest.raises(InvalidRequest, match="gas"):  # a free dry run is bounded like a query
        client.simulate(build_call(chain_id=client.chain_id, sender=alice, nonce=nonce,
                                   contract=token.address, method="transfer", args=transfer,
                                   zone=ZONE, gas_limit=SIMULATE_GAS_MAX + 1))
    assert client.account_nonce(alice.address) == nonce
    assert token.balance_of(bob.address) == 0
    assert client.get_transaction(tx.hash) is None  # not in any mempool
    real = client.submit_and_wait(tx, timeout_s=WAIT_S)
    assert (real.gas_used, real.return_data, real.events) == \
        (dry.gas_used, dry.return_data, dry.events)
    assert dry.receipt is not None and dry.receipt.tx_hash == real.tx_hash
    assert token.balance_of(bob.address) == 321
    again = client.simulate(tx)  # its nonce is used now
    assert not again.valid and again.error_code == "bad_nonce"
    proxy = token.simulate.transfer(bob.address, 2_000_000)  # more than alice holds
    assert not proxy.ok and proxy.simulation.receipt is not None
    assert proxy.simulation.receipt.status is ReceiptStatus.CONTRACT_ERROR
    assert token.balance_of(alice.address) == 1_000_000 - 321


# ---- events across a killed node --------------------------------------------------------


def record_id(record: EventRecord) -> tuple[int, bytes, int]:
    return record.height, record.tx_hash, record.event_index


def collect(endpoint: str, contract: bytes, from_height: int, count: int) -> list[EventRecord]:
    """The first ``count`` records of a fresh stream on ``endpoint`` from ``from_height``."""
    records: list[EventRecord] = []
    with Client([endpoint], timeout_s=10) as client:
        for record in client.stream_events(from_height, contract=contract,
                                           timeout_s=STREAM_DEADLINE_S):
            records.append(record)
            if len(records) == count:
                break
    return records


def resume(endpoint: str, contract: bytes, consumed: list[EventRecord],
           total: int) -> list[EventRecord]:
    """Resume after ``consumed`` as the doc says: from the last height, skipping what was seen."""
    cursor = consumed[-1].height
    already = [record for record in consumed if record.height == cursor]
    fresh = collect(endpoint, contract, cursor, total - len(consumed) + len(already))
    assert [record_id(r) for r in fresh[:len(already)]] == [record_id(r) for r in already]
    return consumed + fresh[len(already):]


def send_transfers(client: Client, token: Contract, sender: Key, count: int) -> None:
    nonce = client.account_nonce(sender.address)
    args = token.abi.method("transfer").encode_args(Key.generate().address, 1)
    txs = [sender.sign(build_call(chain_id=client.chain_id, sender=sender, nonce=nonce + i,
                                  contract=token.address, method="transfer", args=args,
                                  zone=ZONE)) for i in range(count)]
    results = client.submit_many(txs)
    assert all(result.accepted for result in results), results
    for tx in txs:
        assert client.wait_for_receipt(tx.hash, timeout_s=WAIT_S).status is ReceiptStatus.SUCCESS


def test_event_stream_resumes_across_a_killed_node(
        devnet: Devnet, token: Contract, alice: Key) -> None:
    endpoints = devnet.client_endpoints
    with Client([endpoints[0], endpoints[2], endpoints[3]], timeout_s=10) as survivors:
        check_resume_across_kill(devnet, survivors, token, alice)


def check_resume_across_kill(devnet: Devnet, survivors: Client, token: Contract,
                             alice: Key) -> None:
    endpoints = devnet.client_endpoints
    send_transfers(survivors, token, alice, 4)
    consumed: list[EventRecord] = []
    with Client([endpoints[1]], timeout_s=10) as doomed:
        stream = doomed.stream_events(1, contract=token.address, timeout_s=STREAM_DEADLINE_S)
        consumed.extend(next(stream) for _ in range(3))
        devnet.kill(1)  # kill -9 of the node the stream is on
        with pytest.raises((ConnectionFailed, Timeout)):
            for record in stream:  # what had arrived before the kill, then the break
                consumed.append(record)
    send_transfers(survivors, token, alice, 3)  # committed while node 1 is down
    tip = survivors.status().height
    with Client([endpoints[0]], timeout_s=10) as counter:
        total = sum(1 for _ in _events_up_to(counter, token.address, tip))
    full = collect(endpoints[0], token.address, 1, total)
    assert len({record_id(r) for r in full}) == total >= 1 + 1 + 4 + 3  # mint, simulate test, here
    on_other = resume(endpoints[2], token.address, consumed, total)
    assert [record_id(r) for r in on_other] == [record_id(r) for r in full]
    assert on_other == full
    devnet.start_node(1)
    devnet.wait_for_height(tip, WAIT_S, nodes=[1])
    on_restarted = resume(endpoints[1], token.address, consumed, total)
    assert on_restarted == full


def _events_up_to(client: Client, contract: bytes, tip: int) -> Iterator[EventRecord]:
    """Events of blocks 1..tip: read block by block (GetBlock + receipts), not streamed."""
    for height in range(1, tip + 1):
        block = client.get_block(height)
        assert block is not None
        for signed in block.block.txs:
            receipt = client.get_receipt(signed.hash)
            assert receipt is not None
            for index, event in enumerate(receipt.events):
                if event.contract == contract:
                    yield EventRecord(height, signed.hash, index, event)


# ---- tampered answers from a real node ----------------------------------------------------


def flip(data: bytes, position: int = -1) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 0x01
    return bytes(changed)


def tamper_value(answer: services_pb2.QueryResponse) -> None:
    answer.value = flip(answer.value)


def tamper_proof(answer: services_pb2.QueryResponse) -> None:
    answer.proof = flip(answer.proof, len(answer.proof) // 2)


def tamper_state_root(answer: services_pb2.QueryResponse) -> None:
    answer.header.last_state_root = flip(answer.header.last_state_root)


def forge_certificate(answer: services_pb2.QueryResponse) -> None:
    answer.commit.signatures[0].signature = flip(answer.commit.signatures[0].signature)


def drop_signers(answer: services_pb2.QueryResponse) -> None:
    del answer.commit.signatures[1:]  # one of four: no 2/3 quorum


@pytest.mark.parametrize("tamper", [tamper_value, tamper_proof, tamper_state_root,
                                    forge_certificate, drop_signers])
def test_tampered_query_answer_from_a_real_node_fails_verification(
        devnet: Devnet, token: Contract, alice: Key, verifier: Verifier,
        tamper: Callable[[services_pb2.QueryResponse], None]) -> None:
    key = contract_storage_key(token.address, b"bal:" + alice.address)
    with Client(devnet.client_endpoints[:1], timeout_s=10, verifier=verifier) as client:
        honest = client.read_state(key, verify=True)
        assert honest.verified and honest.value is not None
        stub = client._stubs[0]
        real_query = stub.Query

        def intercepted(request: services_pb2.QueryRequest, **options: Any) -> Any:
            answer = services_pb2.QueryResponse()
            answer.CopyFrom(real_query(request, **options))
            if request.prove:
                tamper(answer)
            return answer

        stub.Query = intercepted
        with pytest.raises(VerificationFailed):
            client.read_state(key, verify=True)
        assert client.read_state(key).value is not None  # unproven reads are left alone
