"""StreamBlocks ``with_receipts`` on a real node (in process, one validator): every
streamed receipt equals GetReceipt's for its tx, in tx order; the plain stream is
unchanged; receipts past the size budget are left out as a suffix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.node.test_node_support import (
    running_node,
    token_artifact,
    wait_until,
    write_single_validator_network,
)
from zonechain.node.node import Node
from zonechain.node.service import CLIENT_SERVICE, ClientService
from zonechain.node.types.receipt import Receipt
from zonechain.proto import services_pb2
from zonechain.sdk import Client, Key
from zonechain.sdk.client import BlockWithReceipts
from zonechain.sdk.contract import Contract, init_arguments
from zonechain.sdk.transactions import build_call

ZONE = "payments"
DEPLOY_GAS = 50_000_000
TRANSFERS = 12
STREAM_TIMEOUT_S = 30.0


class Chain:
    """A running node with a token and a batch of transfers committed."""

    def __init__(self, node: Node, home: Path) -> None:
        self.node = node
        self.endpoint = f"127.0.0.1:{node.client_port}"
        self.client = Client([self.endpoint], timeout_s=10)
        alice = Key.from_seed(b"\x0a" * 32)
        artifact = token_artifact()
        receipt = self.client.deploy(
            alice, artifact.code, init_arguments(artifact.abi, ("Token", "TOK", 2), {}),
            zone=ZONE, gas_limit=DEPLOY_GAS)
        assert receipt.created_contract is not None
        token = Contract(self.client, receipt.created_contract, artifact.abi, key=alice,
                         zone=ZONE)
        token.mint(alice.address, 1_000)
        # many txs in one batch, so that blocks hold several (the last one fails)
        nonce = self.client.account_nonce(alice.address)
        amounts = [1] * (TRANSFERS - 1) + [10**9]
        self.tx_hashes = self._submit_transfers(alice, token.address, amounts, nonce)
        wait_until(lambda: all(self.client.get_receipt(h) is not None for h in self.tx_hashes),
                   what="the transfers' receipts")
        self.height = self.client.status().height

    def _submit_transfers(self, key: Key, token: bytes, amounts: list[int],
                          nonce: int) -> list[bytes]:
        abi = token_artifact().abi
        txs = [key.sign(build_call(
            chain_id=self.client.chain_id, sender=key, nonce=nonce + n, contract=token,
            method="transfer", zone=ZONE,
            args=abi.method("transfer").encode_args(
                Key.from_seed(bytes([n + 1]) * 32).address, amount)))
               for n, amount in enumerate(amounts)]
        results = self.client.submit_many(txs)
        assert all(result.accepted for result in results)
        return [tx.hash for tx in txs]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    home = write_single_validator_network(tmp_path_factory.mktemp("receipts") / "net")
    with running_node(home) as (node, _log):
        made = Chain(node, home)
        try:
            yield made
        finally:
            made.client.close()


def streamed(chain: Chain) -> list[BlockWithReceipts]:
    items = []
    for item in chain.client.stream_blocks_with_receipts(1, timeout_s=STREAM_TIMEOUT_S):
        items.append(item)
        if item.info.block.height >= chain.height:
            return items
    raise AssertionError("the stream ended early")


def test_streamed_receipts_equal_get_receipt_for_every_tx(chain: Chain) -> None:
    items = streamed(chain)
    assert [item.info.block.height for item in items] == list(range(1, chain.height + 1))
    seen: list[bytes] = []
    for item in items:
        assert item.complete
        txs = item.info.block.txs
        assert [receipt.tx_hash for receipt in item.receipts] == [tx.hash for tx in txs]
        for receipt in item.receipts:
            assert receipt == chain.client.get_receipt(receipt.tx_hash)
        seen += [tx.hash for tx in txs]
    assert set(chain.tx_hashes) <= set(seen)
    assert any(len(item.receipts) > 1 for item in items), "no block held several txs"
    ours = {r.tx_hash: r for item in items for r in item.receipts if r.tx_hash in chain.tx_hashes}
    assert len({receipt.status for receipt in ours.values()}) == 2  # successes and a failure


def test_without_the_flag_the_stream_carries_no_receipts(chain: Chain) -> None:
    with grpc.insecure_channel(chain.endpoint) as channel:
        call = channel.unary_stream(
            f"/{CLIENT_SERVICE}/StreamBlocks",
            request_serializer=services_pb2.StreamBlocksRequest.SerializeToString,
            response_deserializer=services_pb2.BlockWithCommit.FromString)
        stream = call(services_pb2.StreamBlocksRequest(from_height=1),
                      timeout=STREAM_TIMEOUT_S)
        for message in stream:
            assert not message.receipts
            if message.block.header.height >= chain.height:
                break


def test_receipts_past_the_budget_are_left_out_as_a_suffix(chain: Chain) -> None:
    block = max((item.info.block for item in streamed(chain)), key=lambda b: len(b.txs))
    service = ClientService(chain.node)
    whole = service._receipts_field(block, 1 << 30)
    every = services_pb2.BlockWithCommit.FromString(whole).receipts
    assert [Receipt.from_proto(r).tx_hash for r in every] == [tx.hash for tx in block.txs]
    first = len(services_pb2.BlockWithCommit(receipts=[every[0]]).SerializeToString())
    for budget, kept in [(0, 0), (first - 1, 0), (first, 1), (len(whole) - 1, len(every) - 1),
                         (len(whole), len(every))]:
        part = services_pb2.BlockWithCommit.FromString(service._receipts_field(block, budget))
        assert list(part.receipts) == list(every[:kept]), budget
