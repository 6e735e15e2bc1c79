"""Multi-process fault tests on a 4-validator devnet: partition, equivocation, proposer crash,
crashes at every commit-path fail-point.

The nodes run with ``ZONECHAIN_TEST_FAULTS=1`` (node/faults.py): each re-reads
``HOME/faults.json``, so a test partitions, heals or turns a validator
Byzantine while the processes run. Every test ends with the network healed
and checks agreement: at every height every node serves the same block hash
(and so the same state roots, which each next header carries), and nodes at
the same height report the same state root. Waits poll with deadlines.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.node.test_node_support import token_artifact, wait_until
from zonechain.node.failpoints import EXIT_CODE
from zonechain.node.faults import ENVIRONMENT_VARIABLE, NO_FAULTS, FaultPlan, save_plan
from zonechain.node.node_cli import DEVNET_TIMEOUTS, Devnet, find_base_port
from zonechain.node.types.block import Block
from zonechain.node.types.commit import Commit
from zonechain.proto import services_pb2, services_pb2_grpc
from zonechain.sdk import Client, Key
from zonechain.sdk.contract import init_arguments
from zonechain.sdk.transactions import build_deploy

pytestmark = pytest.mark.slow

VALIDATORS = 4
WAIT_S = 120.0
ZONE = "payments"
SPLIT_SETTLE_MESSAGES = 6
"""A split stalls consensus without round changes (no half sees 2f+1 votes of any
kind, so no timeout is even scheduled); the nodes keep re-sending their votes
within their half every second. The split is judged settled once every node
received this many more consensus messages since it began (the height in
flight, if any, has finished or stalled)..."""
SPLIT_WATCH_MESSAGES = 10
"""...and the heights must not move while every node receives this many more
(several re-gossip cycles, seconds of stalled rounds)."""
COMMIT_FAILPOINTS = ("store.commit.before_batch", "store.commit.before_write",
                     "store.commit.after_write", "store.consensus.after_write")
"""The commit path: the block's store batch (before it, before and after its
synced write) and the signer's last-signed record (after its write, before the
vote leaves): the one that could make a restarted validator double-sign."""
FAILPOINT_HIT = 3
"""Fire on the third pass: the node has restarted and is taking part first."""


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    network = Devnet(tmp_path_factory.mktemp("faults") / "net", VALIDATORS, reset=True,
                     timeouts=DEVNET_TIMEOUTS, base_port=find_base_port(VALIDATORS),
                     environment={ENVIRONMENT_VARIABLE: "1"})
    with network:
        yield network


# ---- reading the nodes ---------------------------------------------------------------


def get_block(endpoint: str, height: int) -> tuple[Block, Commit]:
    with grpc.insecure_channel(endpoint) as channel:
        stub = services_pb2_grpc.ClientStub(channel)  # type: ignore[no-untyped-call]
        answer = stub.GetBlock(services_pb2.GetBlockRequest(height=height), timeout=10)
    assert answer.found, (endpoint, height)
    return Block.from_proto(answer.block), Commit.from_proto(answer.commit)


def block_hashes(endpoint: str, last: int) -> list[bytes]:
    with grpc.insecure_channel(endpoint) as channel:
        stub = services_pb2_grpc.ClientStub(channel)  # type: ignore[no-untyped-call]
        hashes = []
        for height in range(1, last + 1):
            answer = stub.GetBlock(services_pb2.GetBlockRequest(height=height), timeout=10)
            assert answer.found, (endpoint, height)
            hashes.append(Block.from_proto(answer.block).hash)
    return hashes


def heights(devnet: Devnet, nodes: list[int] | None = None) -> list[int]:
    chosen = range(VALIDATORS) if nodes is None else nodes
    found = [devnet.heights()[index] for index in chosen]
    assert all(height is not None for height in found), found
    return [height or 0 for height in found]


def assert_agreement(devnet: Devnet, nodes: list[int] | None = None) -> int:
    """Same block at every height up to the lowest tip; same root where tips are equal."""
    chosen = list(range(VALIDATORS)) if nodes is None else nodes
    statuses = [devnet.status(index) for index in chosen]
    assert all(status is not None for status in statuses)
    common = min(status.height for status in statuses if status is not None)
    reference = block_hashes(devnet.nodes[chosen[0]].client, common)
    for index in chosen[1:]:
        assert block_hashes(devnet.nodes[index].client, common) == reference, index
    roots: dict[tuple[int, bytes], bytes] = {}
    for status in statuses:
        assert status is not None
        key = (status.height, bytes(status.latest_block_hash))
        assert roots.setdefault(key, bytes(status.state_root)) == bytes(status.state_root)
    return common


def metric(devnet: Devnet, index: int, name: str) -> int:
    """One counter or gauge of the node's Prometheus metrics."""
    with urllib.request.urlopen(f"http://{devnet.nodes[index].metrics}/metrics",
                                timeout=5) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if not line.startswith("#") and line.split(" ")[0].endswith(name):
            return int(float(line.split(" ")[1]))
    raise AssertionError(f"no {name} metric")


def received(devnet: Devnet) -> list[int]:
    return [metric(devnet, index, "consensus_messages_received_total")
            for index in range(VALIDATORS)]


def wait_received(devnet: Devnet, since: list[int], more: int, what: str) -> list[int]:
    """Wait until every node received ``more`` consensus messages since ``since``."""
    wait_until(lambda: all(now >= before + more
                           for now, before in zip(received(devnet), since, strict=True)),
               WAIT_S, what)
    return received(devnet)


def validator_address(devnet: Devnet, index: int) -> bytes:
    status = devnet.status(index)
    assert status is not None and status.validator
    return bytes(status.validator)


def log_events(devnet: Devnet, index: int, event: str) -> list[dict[str, object]]:
    records = []
    text = (devnet.nodes[index].home / "node.log").read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        if f'"event": "{event}"' in line:
            records.append(json.loads(line))
    return records


def evidence_offenders(devnet: Devnet, index: int, first: int, last: int) -> list[bytes]:
    """Validators named by evidence in blocks first..last as node ``index`` serves them."""
    offenders = []
    for height in range(first, last + 1):
        block, _ = get_block(devnet.nodes[index].client, height)
        offenders += [item.validator for item in block.evidence]
    return offenders


def set_faults(devnet: Devnet, index: int, plan: FaultPlan) -> None:
    save_plan(devnet.nodes[index].home, plan)


# ---- the tests -----------------------------------------------------------------------


def test_a_two_two_split_commits_nothing_and_resumes_after_healing(devnet: Devnet) -> None:
    devnet.wait_for_height(2, WAIT_S)
    ids = [node.node_id for node in devnet.nodes]
    halves = ([0, 1], [2, 3])
    for mine, other in (halves, halves[::-1]):
        for index in mine:
            set_faults(devnet, index, FaultPlan(isolated_peers=frozenset(ids[i] for i in other)))
    settled = wait_received(devnet, received(devnet), SPLIT_SETTLE_MESSAGES, "the split")
    frozen = heights(devnet)
    wait_received(devnet, settled, SPLIT_WATCH_MESSAGES, "re-gossip within each half")
    assert heights(devnet) == frozen  # no half has a quorum: nothing committed
    for index in range(VALIDATORS):
        set_faults(devnet, index, NO_FAULTS)
    devnet.wait_for_height(max(frozen) + 2, WAIT_S)
    assert assert_agreement(devnet) >= max(frozen) + 2


def test_an_equivocating_validator_is_caught_in_a_block_and_safety_holds(devnet: Devnet) -> None:
    byzantine = 3
    offender = validator_address(devnet, byzantine)
    start = max(heights(devnet)) + 1
    set_faults(devnet, byzantine, FaultPlan(equivocate=True))
    honest = [0, 1, 2]

    def evidence_height() -> int:
        tip = heights(devnet, [0])[0]
        for height in range(start, tip + 1):
            block, _ = get_block(devnet.nodes[0].client, height)
            if any(item.validator == offender for item in block.evidence):
                return height
        return 0

    found = wait_until(evidence_height, WAIT_S, "evidence against the equivocator in a block")
    set_faults(devnet, byzantine, NO_FAULTS)
    assert log_events(devnet, byzantine, "test_fault_equivocated")
    block, _ = get_block(devnet.nodes[1].client, found)  # queryable on another honest node
    evidence = [item for item in block.evidence if item.validator == offender]
    assert evidence and all(item.vote_a.block_hash != item.vote_b.block_hash
                            for item in evidence)
    devnet.wait_for_height(found + 1, WAIT_S)
    tip = assert_agreement(devnet, honest)
    named = set(evidence_offenders(devnet, 0, start, tip))
    assert named == {offender}  # nobody honest is accused
    assert assert_agreement(devnet) >= found


def test_a_proposer_killed_mid_round_its_transaction_still_commits(devnet: Devnet) -> None:
    victim = 1
    survivors = [0, 2, 3]
    seen = len(log_events(devnet, victim, "test_fault_proposal_withheld"))
    set_faults(devnet, victim, FaultPlan(withhold_proposals=True))  # stays in its round
    withheld = wait_until(
        lambda: log_events(devnet, victim, "test_fault_proposal_withheld")[seen:],
        WAIT_S, "the victim's turn to propose")[0]
    height, round = int(str(withheld["height"])), int(str(withheld["round"]))
    artifact = token_artifact()
    key = Key.generate()
    with Client([devnet.nodes[victim].client], timeout_s=10) as client:
        tx = key.sign(build_deploy(
            chain_id=client.chain_id, sender=key, nonce=0, code=artifact.code,
            init_args=init_arguments(artifact.abi, ("Flight", "FL", 0), {}), zone=ZONE,
            gas_limit=50_000_000))
        client.submit(tx)

    def gossiped() -> bool:  # another validator holds it (pending, or committed already)
        with Client([devnet.nodes[survivors[0]].client], timeout_s=10) as other:
            return other.get_transaction(tx.hash) is not None

    wait_until(gossiped, WAIT_S, "the transaction gossiped to another validator")
    devnet.kill(victim)  # kill -9 while it is the proposer (or just after)
    set_faults(devnet, victim, NO_FAULTS)
    with Client([devnet.nodes[index].client for index in survivors], timeout_s=10) as client:
        receipt = client.wait_for_receipt(tx.hash, timeout_s=WAIT_S)
        located = client.get_transaction(tx.hash)
    assert receipt is not None and located is not None and not located.pending
    devnet.wait_for_height(max(height, located.height), WAIT_S, survivors)
    _, commit = get_block(devnet.nodes[0].client, height)
    assert commit.round > round  # the victim's round failed; a later round decided
    devnet.start_node(victim)
    devnet.wait_for_height(max(heights(devnet, survivors)), WAIT_S, [victim])
    assert assert_agreement(devnet) >= located.height


@pytest.mark.parametrize("failpoint", COMMIT_FAILPOINTS)
def test_a_validator_killed_at_a_commit_failpoint_recovers_without_double_signing(
    devnet: Devnet, failpoint: str,
) -> None:
    crashing = 2
    address = validator_address(devnet, crashing)
    start = max(heights(devnet))
    devnet.kill(crashing)
    devnet.start_node(crashing, {"ZONECHAIN_FAILPOINTS": f"{failpoint}=exit@{FAILPOINT_HIT}"})
    process = devnet.nodes[crashing].process
    assert process is not None
    wait_until(lambda: process.poll() is not None, WAIT_S, f"the crash at {failpoint}")
    assert process.returncode == EXIT_CODE
    assert f"fail-point {failpoint}: exit" in devnet.nodes[crashing].log_tail(50)
    devnet.start_node(crashing)
    others = [index for index in range(VALIDATORS) if index != crashing]
    devnet.wait_for_height(max(heights(devnet, others)) + 1, WAIT_S, [crashing])
    devnet.wait_for_height(max(heights(devnet)) + 1, WAIT_S)  # it takes part again
    tip = assert_agreement(devnet)
    assert address not in evidence_offenders(devnet, 0, start, tip)  # never double-signed
    assert not [record for record in log_events(devnet, crashing, "node_fault")]


def test_nodes_log_that_test_faults_are_on(devnet: Devnet) -> None:
    assert all(log_events(devnet, index, "test_faults_enabled") for index in range(VALIDATORS))
    assert not Path(devnet.nodes[0].home / "faults.json.tmp").exists()
