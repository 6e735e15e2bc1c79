"""``stream_blocks_with_receipts`` (sync and async) against the fake node: blocks come
with their receipts in tx order, a prefix is reported as ``missing``, and receipts
that do not belong to their block's txs are refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.sdk.fake_node import CHAIN_ID, TOKEN_ABI_PATH, FakeChain, FakeNode
from zonechain.benchmarks.bench.network import ClientTarget, NetworkTargetError
from zonechain.benchmarks.bench.targets import Committed
from zonechain.contracts.abi import load_abi
from zonechain.node.types.transaction import SignedTransaction
from zonechain.proto import services_pb2
from zonechain.sdk import AsyncClient, Client, NodeError, RetryPolicy, build_deploy
from zonechain.sdk.client import BlockWithReceipts, block_with_receipts_from_proto
from zonechain.sdk.errors import ConnectionFailed, Timeout
from zonechain.sdk.keys import Key

ALICE = Key.from_seed(b"\x0a" * 32)
BLOCK_TXS = 3
WAIT_S = 10.0
POLL_S = 0.01
NO_BACKOFF = RetryPolicy(attempts=3, backoff_initial_s=0.0)


def deploys(count: int) -> list[SignedTransaction]:
    init_args = load_abi(TOKEN_ABI_PATH).method("init").encode_args("Fake", "FK", 2)
    return [ALICE.sign(build_deploy(chain_id=CHAIN_ID, sender=ALICE, nonce=nonce,
                                    code=b"\0asm", init_args=init_args, zone="z"))
            for nonce in range(count)]


@pytest.fixture
def chain() -> FakeChain:
    """Two blocks: one of ``BLOCK_TXS`` txs, then an empty one."""
    made = FakeChain(auto_commit=False)
    with made.lock:
        made.commit_block(deploys(BLOCK_TXS))
        made.commit_block([])
    return made


@pytest.fixture
def node(chain: FakeChain) -> Iterator[FakeNode]:
    with FakeNode(chain) as running:
        yield running


def test_blocks_come_with_their_receipts_in_tx_order(node: FakeNode) -> None:
    with Client([node.endpoint], retry=NO_BACKOFF, timeout_s=5) as client:
        streamed = list(client.stream_blocks_with_receipts(1))
        assert [item.info.block.height for item in streamed] == [1, 2]
        full, empty = streamed
        assert full.complete and empty.complete and not full.missing
        assert [r.tx_hash for r in full.receipts] == [tx.hash for tx in full.info.block.txs]
        for receipt in full.receipts:
            assert client.get_receipt(receipt.tx_hash) == receipt
        assert empty.receipts == ()
        # the plain stream is unchanged
        assert [info.block.height for info in client.stream_blocks(1)] == [1, 2]


@pytest.mark.parametrize("sent", [0, 1])
def test_a_prefix_leaves_the_rest_missing(chain: FakeChain, node: FakeNode, sent: int) -> None:
    chain.stream_receipts_max = sent
    with Client([node.endpoint], retry=NO_BACKOFF, timeout_s=5) as client:
        first = next(iter(client.stream_blocks_with_receipts(1)))
    txs = first.info.block.txs
    assert len(first.receipts) == sent and not first.complete
    assert first.missing == [tx.hash for tx in txs[sent:]]


def test_the_async_client_streams_the_same(node: FakeNode) -> None:
    async def scenario() -> list[BlockWithReceipts]:
        async with AsyncClient([node.endpoint], retry=NO_BACKOFF, timeout_s=5) as client:
            return [item async for item in client.stream_blocks_with_receipts(1)]

    streamed = asyncio.run(scenario())
    with Client([node.endpoint], timeout_s=5) as client:
        assert streamed == list(client.stream_blocks_with_receipts(1))


def message_of(chain: FakeChain, height: int) -> services_pb2.BlockWithCommit:
    block, commit = chain.blocks[height - 1], chain.commits[height - 1]
    receipts = [chain.receipts[tx.hash][0].to_proto() for tx in block.txs]
    return services_pb2.BlockWithCommit(block=block.to_proto(), commit=commit.to_proto(),
                                        receipts=receipts)


def test_receipts_out_of_order_are_a_node_error(chain: FakeChain) -> None:
    message = message_of(chain, 1)
    assert block_with_receipts_from_proto(message).complete
    first, second = message.receipts[0], message.receipts[1]
    swapped = services_pb2.BlockWithCommit()
    swapped.CopyFrom(message)
    swapped.receipts[0].CopyFrom(second)
    swapped.receipts[1].CopyFrom(first)
    with pytest.raises(NodeError, match="not that of its tx"):
        block_with_receipts_from_proto(swapped)


def test_more_receipts_than_txs_is_a_node_error(chain: FakeChain) -> None:
    message = message_of(chain, 2)
    message.receipts.append(message_of(chain, 1).receipts[0])
    with pytest.raises(NodeError, match="1 receipts for 0 txs"):
        block_with_receipts_from_proto(message)


def test_a_malformed_receipt_is_a_node_error(chain: FakeChain) -> None:
    message = message_of(chain, 1)
    message.receipts[0].tx_hash = b"short"
    with pytest.raises(NodeError):
        block_with_receipts_from_proto(message)


@pytest.mark.parametrize("sent", [None, 0, 1])
def test_the_benchmark_follower_uses_streamed_receipts_and_fetches_the_rest(
        sent: int | None) -> None:
    """benchmarks/bench/network.py: GetReceipt only for receipts the stream lacked."""
    chain = FakeChain(auto_commit=False, stream_receipts_max=sent)
    txs = deploys(BLOCK_TXS)
    with FakeNode(chain) as node:
        # the fake's stream ends at its last block: hold it until the block is there
        node.servicer.stalled.add("StreamBlocks")
        target = ClientTarget([node.endpoint], clock=lambda: 0.0)
        try:
            assert target.submit_many(txs) == [None] * BLOCK_TXS
            deadline = time.monotonic() + WAIT_S  # submitted in the background
            while len(chain.pending) < BLOCK_TXS and time.monotonic() < deadline:
                time.sleep(POLL_S)  # pacing of the wait, not synchronisation
            with chain.lock:
                for signed in txs:
                    del chain.pending[signed.hash]
                chain.commit_block(txs)
            node.servicer.stall_release.set()
            committed: list[Committed] = []
            deadline = time.monotonic() + WAIT_S
            while len(committed) < BLOCK_TXS and time.monotonic() < deadline:
                committed += target.poll(0.0)[0]
                time.sleep(POLL_S)  # pacing of the poll loop, not synchronisation
        finally:
            target.close()
        lookups = node.servicer.calls.get("GetReceipt", 0)
    assert [item.tx_hash for item in committed] == [tx.hash for tx in txs]
    assert [item.receipt for item in committed] == [chain.receipts[tx.hash][0] for tx in txs]
    assert lookups == BLOCK_TXS - (BLOCK_TXS if sent is None else sent)


def test_the_benchmark_submits_in_the_background_and_reports_refusals_later() -> None:
    """benchmarks/bench/network.py: submit_many returns at once; a refusal (here a
    duplicate) comes back from rejections(), with its reason code."""
    chain = FakeChain(auto_commit=False)
    txs = deploys(3)
    with FakeNode(chain) as node:
        target = ClientTarget([node.endpoint, node.endpoint], clock=lambda: 0.0)
        try:
            assert target.submit_many(txs[:2]) == [None, None]
            assert target.submit_many(txs[1:]) == [None, None]  # txs[1] again
            refused: list[tuple[bytes, str]] = []
            deadline = time.monotonic() + WAIT_S
            while (not refused or chain.submissions < 4) and time.monotonic() < deadline:
                refused += target.rejections()
                time.sleep(POLL_S)  # pacing of the poll loop, not synchronisation
            refused += target.rejections()
        finally:
            target.close()
    assert chain.submissions == 4
    assert refused == [(txs[1].hash, "duplicate")]
    assert set(chain.pending) == {tx.hash for tx in txs}


def test_a_timed_out_submission_is_not_counted_as_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The node may have admitted the txs of a call that timed out: they stay watched
    (their commits may still come), and an unreachable node's refusal still counts."""
    chain = FakeChain(auto_commit=False)
    txs = deploys(2)
    with FakeNode(chain) as node:
        target = ClientTarget([node.endpoint], clock=lambda: 0.0)
        try:
            answers: list[Exception] = [Timeout("slow node"), ConnectionFailed("gone")]

            def failing(batch: object, **_: object) -> list[object]:
                raise answers.pop(0)

            monkeypatch.setattr(target._submitter, "submit_many", failing)
            target.submit_many(txs[:1])
            deadline = time.monotonic() + WAIT_S
            while len(answers) == 2 and time.monotonic() < deadline:
                time.sleep(POLL_S)  # until the first call was made (no merged batch)
            target.submit_many(txs[1:])
            refused: list[tuple[bytes, str]] = []
            while not refused and time.monotonic() < deadline:
                refused += target.rejections()
                time.sleep(POLL_S)  # pacing of the poll loop, not synchronisation
        finally:
            target.close()
    assert refused == [(txs[1].hash, "ConnectionFailed")]
    assert txs[0].hash in target._watched and txs[1].hash not in target._watched


def test_an_unexpected_submission_failure_ends_the_benchmark_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A sender thread that failed must not leave the generator waiting for its drain
    deadline: the next poll raises NetworkTargetError naming the failure."""
    chain = FakeChain(auto_commit=False)
    with FakeNode(chain) as node:
        target = ClientTarget([node.endpoint], clock=lambda: 0.0)
        try:
            def broken(txs: object, **_: object) -> list[object]:
                raise RuntimeError("codec bug")

            monkeypatch.setattr(target._submitter, "submit_many", broken)
            target.submit_many(deploys(1))
            deadline = time.monotonic() + WAIT_S
            with pytest.raises(NetworkTargetError, match="RuntimeError: codec bug"):
                while time.monotonic() < deadline:
                    target.poll(0.0)
                    time.sleep(POLL_S)  # pacing of the poll loop, not synchronisation
        finally:
            target.close()
