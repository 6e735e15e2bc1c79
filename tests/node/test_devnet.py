"""A 4-validator devnet of real node PROCESSES: SDK transfers, agreement, crash and restart.

Marked slow (multi-process); each wait polls Status with a deadline.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.node.test_node_support import token_artifact, wait_until
from zonechain.node.node_cli import DEVNET_TIMEOUTS, Devnet, find_base_port, node_status
from zonechain.node.types.block import Block
from zonechain.node.types.receipt import ReceiptStatus
from zonechain.proto import services_pb2, services_pb2_grpc
from zonechain.sdk import Client, Key
from zonechain.sdk.contract import Contract, init_arguments
from zonechain.sdk.errors import ZonechainError
from zonechain.sdk.transactions import build_call

pytestmark = pytest.mark.slow

ZONE = "payments"
VALIDATORS = 4
WAIT_S = 120.0
LOAD_SENDERS = 4
LOAD_BATCH = 25


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    network = Devnet(tmp_path_factory.mktemp("devnet") / "net", VALIDATORS, reset=True,
                     timeouts=DEVNET_TIMEOUTS, base_port=find_base_port(VALIDATORS))
    with network:
        yield network


def block_hashes(endpoint: str, last: int) -> list[bytes]:
    """Block hashes 1..last as one node serves them (GetBlock)."""
    import grpc

    hashes = []
    with grpc.insecure_channel(endpoint) as channel:
        stub = services_pb2_grpc.ClientStub(channel)  # type: ignore[no-untyped-call]
        for height in range(1, last + 1):
            answer = stub.GetBlock(services_pb2.GetBlockRequest(height=height), timeout=10)
            assert answer.found, (endpoint, height)
            block = Block.from_proto(answer.block)
            assert answer.commit.block_hash == block.hash
            hashes.append(block.hash)
    return hashes


def assert_agreement(devnet: Devnet, nodes: list[int] | None = None) -> int:
    """Every node serves the same block (hence the same state roots) at every height."""
    chosen = list(range(len(devnet.nodes))) if nodes is None else nodes
    heights = [devnet.heights()[index] for index in chosen]
    assert all(height is not None for height in heights), heights
    common = min(height for height in heights if height is not None)
    reference = block_hashes(devnet.nodes[chosen[0]].client, common)
    for index in chosen[1:]:
        assert block_hashes(devnet.nodes[index].client, common) == reference, index
    return common


def test_sdk_token_transfer_commits_and_all_nodes_agree(devnet: Devnet) -> None:
    artifact = token_artifact()
    alice, bob = Key.generate(), Key.generate()
    with Client(devnet.client_endpoints, timeout_s=10) as client:
        deployed = client.deploy(alice, artifact.code,
                                 init_arguments(artifact.abi, ("Token", "TOK", 2), {}),
                                 zone=ZONE, gas_limit=50_000_000, timeout_s=WAIT_S)
        assert deployed.created_contract is not None
        token = Contract(client, deployed.created_contract, artifact.abi, key=alice, zone=ZONE)
        token.mint(alice.address, 1_000)
        outcome = token.transfer(bob.address, 400)
        assert outcome.receipt.status is ReceiptStatus.SUCCESS
        located = client.get_transaction(outcome.receipt.tx_hash)
        assert located is not None and located.height >= 1
    devnet.wait_for_height(located.height, WAIT_S)
    for node in devnet.nodes:  # every node answers the same balance
        with Client([node.client]) as one:
            assert Contract(one, token.address, artifact.abi).balance_of(bob.address) == 400
    assert assert_agreement(devnet) >= located.height


class Load:
    """Token calls from LOAD_SENDERS fresh keys, in batches, to the given endpoints."""

    def __init__(self, endpoints: list[str], contract: bytes) -> None:
        self.client = Client(endpoints, timeout_s=10)
        self.contract = contract
        self.keys = [Key.generate() for _ in range(LOAD_SENDERS)]
        self.nonces = [0] * LOAD_SENDERS
        self.accepted = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        chain_id = self.client.chain_id
        while not self.stopped.is_set():
            batch = []
            for index, key in enumerate(self.keys):
                for _ in range(LOAD_BATCH):
                    batch.append(key.sign(build_call(
                        chain_id=chain_id, sender=key, nonce=self.nonces[index],
                        contract=self.contract, method="name", zone=ZONE)))
                    self.nonces[index] += 1
            try:
                results = self.client.submit_many(batch)
            except ZonechainError:
                self.nonces = [self.client.account_nonce(key.address) for key in self.keys]
                continue
            self.accepted += sum(result.accepted for result in results)
            if not all(result.accepted for result in results):
                self.nonces = [self.client.account_nonce(key.address) for key in self.keys]
            self.stopped.wait(0.2)  # pacing of the load generator, not synchronisation

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopped.set()
        self.thread.join(30)
        self.client.close()


def test_kill_one_of_four_under_load_then_restart_it_catches_up(devnet: Devnet) -> None:
    artifact = token_artifact()
    with Client(devnet.client_endpoints[:3], timeout_s=10) as client:
        deployed = client.deploy(Key.generate(), artifact.code,
                                 init_arguments(artifact.abi, ("Load", "LD", 0), {}),
                                 zone=ZONE, gas_limit=50_000_000, timeout_s=WAIT_S)
    assert deployed.created_contract is not None
    survivors = [0, 1, 2]
    with Load(devnet.client_endpoints[:3], deployed.created_contract) as load:
        wait_until(lambda: load.accepted > 0, WAIT_S, "load accepted")
        devnet.kill(3)
        killed_at = max(height or 0 for height in devnet.heights()[:3])
        devnet.wait_for_height(killed_at + 10, WAIT_S, survivors)  # 3 of 4 keep committing
        devnet.start_node(3)
        target = max(height or 0 for height in devnet.heights()[:3])
        devnet.wait_for_height(target, WAIT_S, [3])  # block sync brings it back
    assert load.accepted > 0
    restarted_log = (devnet.nodes[3].home / "node.log").read_text()
    assert '"event": "sync_batch"' in restarted_log
    assert assert_agreement(devnet) >= target
    devnet.wait_for_height(target + 2, WAIT_S)  # and it takes part again


def test_sigterm_stops_a_node_cleanly_and_it_restarts(devnet: Devnet) -> None:
    assert devnet.terminate(2) == 0
    log = (devnet.nodes[2].home / "node.log").read_text()
    assert '"event": "node_stopped"' in log.splitlines()[-1] or "node_stopped" in log
    devnet.start_node(2)
    height = max(height or 0 for height in devnet.heights())
    devnet.wait_for_height(height + 1, WAIT_S)
    assert_agreement(devnet)


def test_a_stopped_devnet_restarts_from_its_data(devnet: Devnet) -> None:
    before = [height or 0 for height in devnet.heights()]
    codes = devnet.stop()
    assert codes == {node.node_id: 0 for node in devnet.nodes}  # SIGTERM: clean exits
    again = Devnet(devnet.directory, VALIDATORS)  # no reset: the same chain
    assert not again.prepare()
    with again:
        assert all((height or 0) >= min(before) for height in again.heights())
        again.wait_for_height(max(before) + 2, WAIT_S)
        assert assert_agreement(again) >= max(before)


def test_devnet_command_prints_endpoints_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    directory = tmp_path / "cli-net"
    process = subprocess.Popen(
        [sys.executable, "-m", "zonechain.node.cli", "devnet", "--validators", "1",
         "--dir", str(directory), "--reset", "--base-port", str(find_base_port(1))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    text = "".join(lines) + out
    assert process.returncode == 0, err
    assert "client gRPC" in text and "node0" in text
    assert "stopped 1 node(s): node0 exit 0" in text
    client = next(line for line in lines if "node0" in line and "127.0.0.1:" in line)
    endpoint = client.split("│")[2].strip() if "│" in client else ""
    if endpoint:
        assert node_status(endpoint) is None  # the node is gone
