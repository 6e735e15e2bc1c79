"""The client service of a real node (in process, one validator), driven by the real SDK."""

from __future__ import annotations

import dataclasses
import io
import json
import urllib.error
import urllib.request
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
from zonechain.node.accounts import account_key
from zonechain.node.config import load_genesis
from zonechain.node.node import Node
from zonechain.node.service import (
    CLIENT_MESSAGE_BYTES_MAX,
    CLIENT_SERVICE,
    SUBMIT_BATCH_TXS_MAX,
)
from zonechain.node.types.receipt import ReceiptStatus
from zonechain.node.types.transaction import SignedTransaction
from zonechain.proto import services_pb2, types_pb2
from zonechain.sdk import Client, Key
from zonechain.sdk.contract import Contract, init_arguments
from zonechain.sdk.errors import InvalidRequest, MempoolRejected, QueryFailed
from zonechain.sdk.transactions import build_call
from zonechain.sdk.verify import Verifier

ZONE = "payments"
DEPLOY_GAS = 50_000_000


class Chain:
    """The running node, an SDK client on it, and a deployed token."""

    def __init__(self, node: Node, log: io.StringIO, home: Path) -> None:
        self.node, self.log, self.home = node, log, home
        self.endpoint = f"127.0.0.1:{node.client_port}"
        self.client = Client([self.endpoint], timeout_s=10)
        self.alice, self.bob = Key.from_seed(b"\x0a" * 32), Key.from_seed(b"\x0b" * 32)
        artifact = token_artifact()
        receipt = self.client.deploy(
            self.alice, artifact.code, init_arguments(artifact.abi, ("Token", "TOK", 2), {}),
            zone=ZONE, gas_limit=DEPLOY_GAS)
        assert receipt.created_contract is not None
        self.token = Contract(self.client, receipt.created_contract, artifact.abi,
                              key=self.alice, zone=ZONE)
        self.token.mint(self.alice.address, 1_000)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    home = write_single_validator_network(tmp_path_factory.mktemp("service") / "net")
    with running_node(home) as (node, log):
        made = Chain(node, log, home)
        try:
            yield made
        finally:
            made.client.close()


def raw_call(chain: Chain, method: str, payload: bytes) -> grpc.RpcError:
    """Send raw bytes to a unary client method; the RpcError it must end with."""
    with grpc.insecure_channel(chain.endpoint) as channel:
        call = channel.unary_unary(f"/{CLIENT_SERVICE}/{method}", request_serializer=None,
                                   response_deserializer=None)
        with pytest.raises(grpc.RpcError) as raised:
            call(payload, timeout=10)
    return raised.value


def test_token_transfer_through_the_sdk_commits_with_a_receipt(chain: Chain) -> None:
    outcome = chain.token.transfer(chain.bob.address, 250)
    receipt = outcome.receipt
    assert receipt.status is ReceiptStatus.SUCCESS
    assert [event.name for event in outcome.events] == ["transfer"]
    assert chain.token.balance_of(chain.bob.address) == 250
    located = chain.client.get_transaction(receipt.tx_hash)
    assert located is not None and not located.pending and located.height >= 1
    block = chain.client.get_block(located.height)
    assert block is not None and block.commit is not None
    assert block.block.txs[located.index].hash == receipt.tx_hash
    assert block.commit.block_hash == block.block.hash


def test_failed_call_is_a_contract_error_receipt(chain: Chain) -> None:
    signed = chain.bob.sign(build_call(
        chain_id=chain.client.chain_id, sender=chain.bob,
        nonce=chain.client.account_nonce(chain.bob.address), contract=chain.token.address,
        method="transfer", args=chain.token.abi.method("transfer").encode_args(
            chain.alice.address, 10**9), zone=ZONE))
    receipt = chain.client.submit_and_wait(signed, timeout_s=30, check=False)
    assert receipt.status is ReceiptStatus.CONTRACT_ERROR
    assert receipt.error_code


def test_mempool_reason_codes_reach_the_client(chain: Chain) -> None:
    nonce = chain.client.account_nonce(chain.bob.address)
    args = chain.token.abi.method("balance_of").encode_args(chain.bob.address)

    def call(key: Key, nonce: int, chain_id: str | None = None,
             gas_limit: int = 1_000_000) -> SignedTransaction:
        return key.sign(build_call(chain_id=chain_id or chain.client.chain_id, sender=key,
                                   nonce=nonce, contract=chain.token.address,
                                   method="balance_of", args=args, zone=ZONE,
                                   gas_limit=gas_limit))

    first = call(chain.bob, nonce)
    chain.client.submit(first)
    with pytest.raises(MempoolRejected) as duplicate:
        chain.client.submit(first)
    with pytest.raises(MempoolRejected) as wrong_chain:
        chain.client.submit(call(chain.bob, nonce + 1, "another-chain"))
    forged = SignedTransaction(first.tx, bytes(64))
    with pytest.raises(MempoolRejected) as bad_signature:
        chain.client.submit(SignedTransaction(
            dataclasses.replace(first.tx, nonce=nonce + 1), forged.signature))
    chain.client.wait_for_receipt(first.hash, timeout_s=30)
    with pytest.raises(MempoolRejected) as committed:
        chain.client.submit(first)
    with pytest.raises(MempoolRejected) as too_low:
        chain.client.submit(call(chain.bob, nonce, gas_limit=2_000_000))
    assert duplicate.value.reason_code == "duplicate"
    assert wrong_chain.value.reason_code == "wrong_chain"
    assert bad_signature.value.reason_code == "bad_signature"
    assert committed.value.reason_code == "duplicate"
    assert too_low.value.reason_code == "nonce_too_low"


def test_proven_read_verifies_against_the_validator_set(chain: Chain) -> None:
    genesis = load_genesis(chain.home / "genesis.json")
    verifier = Verifier.from_public_keys(
        genesis.chain_id, [(v.public_key, v.power) for v in genesis.validators])
    with Client([chain.endpoint], verifier=verifier) as verified_client:
        value = verified_client.read_state(account_key(chain.alice.address), verify=True)
        absent = verified_client.read_state(account_key(Key.generate().address), verify=True)
    assert value.verified and value.value is not None
    assert value.header is not None and value.header.height == value.height + 1
    assert absent.verified and absent.value is None
    assert value.height <= chain.client.status().height - 1


def test_heights_this_node_cannot_serve_are_out_of_range(chain: Chain) -> None:
    latest = chain.client.status().height
    with pytest.raises(InvalidRequest):
        chain.client.read_state(account_key(chain.alice.address), height=latest + 5)
    with pytest.raises(InvalidRequest):
        chain.client.read_state(account_key(chain.alice.address), height=latest + 1,
                                prove=True)
    with pytest.raises(InvalidRequest):
        chain.client.query(chain.token.address, "name", height=latest + 10)


def test_failed_view_call_is_query_failed(chain: Chain) -> None:
    with pytest.raises(QueryFailed) as failed:
        chain.client.query(chain.token.address, "no_such_method")
    assert failed.value.code


@pytest.mark.parametrize("method", ["SubmitTransaction", "SubmitTransactionBatch",
                                    "GetTransaction", "GetReceipt", "GetBlock", "Status",
                                    "Query"])
def test_bytes_that_are_not_protobuf_are_invalid_argument(chain: Chain, method: str) -> None:
    error = raw_call(chain, method, b"\xff\xff\xff\xff")
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert chain.client.status().height >= 1  # still serving


def test_malformed_fields_are_invalid_argument(chain: Chain) -> None:
    short_hash = services_pb2.GetReceiptRequest(tx_hash=b"\x01" * 5).SerializeToString()
    no_query = services_pb2.QueryRequest(height=0).SerializeToString()
    bad_contract = services_pb2.QueryRequest(view_call=services_pb2.ViewCallQuery(
        contract=b"\x01" * 3, method="name")).SerializeToString()
    signed = chain.alice.sign(build_call(chain_id=chain.client.chain_id, sender=chain.alice,
                                         nonce=0, contract=chain.token.address, method="name",
                                         zone=ZONE)).to_proto()
    signed.tx.sender = b"\x01" * 7
    for method, payload in (("GetReceipt", short_hash), ("Query", no_query),
                            ("Query", bad_contract),
                            ("SubmitTransaction", signed.SerializeToString())):
        error = raw_call(chain, method, payload)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, (method, error.details())
        assert error.details()
    assert chain.client.status().height >= 1


def test_a_malformed_transaction_in_a_batch_names_its_index(chain: Chain) -> None:
    good = chain.alice.sign(build_call(chain_id=chain.client.chain_id, sender=chain.alice,
                                       nonce=10**6, contract=chain.token.address,
                                       method="name", zone=ZONE)).to_proto()
    bad = chain.alice.sign(build_call(chain_id=chain.client.chain_id, sender=chain.alice,
                                      nonce=10**6 + 1, contract=chain.token.address,
                                      method="name", zone=ZONE)).to_proto()
    bad.signature = b"\x01" * 3
    with grpc.insecure_channel(chain.endpoint) as channel:
        call = channel.stream_unary(f"/{CLIENT_SERVICE}/SubmitTransactions",
                                    request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as raised:
            call(iter([good.SerializeToString(), bad.SerializeToString()]), timeout=10)
    error = raised.value
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "txs[1]" in (error.details() or "")


def _name_call(chain: Chain, nonce: int) -> types_pb2.SignedTransaction:
    return chain.alice.sign(build_call(chain_id=chain.client.chain_id, sender=chain.alice,
                                       nonce=nonce, contract=chain.token.address,
                                       method="name", zone=ZONE)).to_proto()


def test_a_malformed_transaction_refuses_the_whole_batch_message(chain: Chain) -> None:
    good, bad = _name_call(chain, 10**6 + 2), _name_call(chain, 10**6 + 3)
    bad.signature = b"\x01" * 3
    batch = services_pb2.TransactionBatch(txs=[good, bad])
    error = raw_call(chain, "SubmitTransactionBatch", batch.SerializeToString())
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "txs[1]" in (error.details() or "")
    good_hash = SignedTransaction.from_proto(good).hash
    assert chain.node.mempool.get(good_hash) is None  # nothing of the batch was admitted


def test_a_batch_over_the_count_limit_is_resource_exhausted(chain: Chain) -> None:
    one = _name_call(chain, 10**6 + 4)
    empty = services_pb2.TransactionBatch().txs.add()  # 2 bytes each: under the byte limit
    batch = services_pb2.TransactionBatch(txs=[one] + [empty] * SUBMIT_BATCH_TXS_MAX)
    error = raw_call(chain, "SubmitTransactionBatch", batch.SerializeToString())
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"at most {SUBMIT_BATCH_TXS_MAX}" in (error.details() or "")
    assert chain.node.mempool.get(SignedTransaction.from_proto(one).hash) is None


def test_a_batch_message_reports_each_transaction(chain: Chain) -> None:
    nonce = chain.client.account_nonce(chain.alice.address)
    fresh = chain.alice.sign(build_call(
        chain_id=chain.client.chain_id, sender=chain.alice, nonce=nonce,
        contract=chain.token.address, method="transfer",
        args=chain.token.abi.method("transfer").encode_args(chain.bob.address, 1), zone=ZONE))
    used = chain.alice.sign(build_call(chain_id=chain.client.chain_id, sender=chain.alice,
                                       nonce=0, contract=chain.token.address, method="name",
                                       zone=ZONE))
    results = chain.client.submit_many([fresh, used])
    assert [result.tx_hash for result in results] == [fresh.hash, used.hash]
    assert results[0].accepted
    assert not results[1].accepted and results[1].error_code == "nonce_too_low"
    receipt = chain.client.wait_for_receipt(fresh.hash, timeout_s=30)
    assert receipt.status is ReceiptStatus.SUCCESS


def test_oversized_request_is_resource_exhausted_and_the_node_keeps_serving(
        chain: Chain) -> None:
    error = raw_call(chain, "SubmitTransaction", b"\x0a" + b"\x00" * CLIENT_MESSAGE_BYTES_MAX)
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    before = chain.client.status().height
    wait_until(lambda: chain.client.status().height > before, what="another block")


def test_stream_blocks_resumes_from_any_height(chain: Chain) -> None:
    wait_until(lambda: chain.client.status().height >= 4, what="height 4")
    first = []
    for info in chain.client.stream_blocks(1, timeout_s=30):
        first.append(info)
        if len(first) == 3:
            break
    resumed = next(iter(chain.client.stream_blocks(3, timeout_s=30)))
    assert [info.block.height for info in first] == [1, 2, 3]
    assert resumed.block.hash == first[2].block.hash
    assert all(info.commit is not None and info.commit.block_hash == info.block.hash
               for info in first)


def test_stream_events_filters_by_contract_and_topic(chain: Chain) -> None:
    receipt = chain.token.transfer(chain.bob.address, 1).receipt
    located = chain.client.get_transaction(receipt.tx_hash)
    assert located is not None
    records = chain.client.stream_events(located.height, contract=chain.token.address,
                                         topic=b"transfer", timeout_s=30)
    record = next(iter(records))
    assert record.height == located.height and record.tx_hash == receipt.tx_hash
    assert record.event.topic == b"transfer" and record.event.contract == chain.token.address


def test_metrics_and_health_endpoints(chain: Chain) -> None:
    base = f"http://127.0.0.1:{chain.node.metrics_port}"
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    with urllib.request.urlopen(f"{base}/health", timeout=10) as answer:
        health = json.loads(answer.read())
    assert "zonechain_blocks_committed_total" in text
    height_line = next(line for line in text.splitlines()
                       if line.startswith("zonechain_height "))
    assert int(height_line.split()[1]) >= 1
    assert health["status"] == "ok"
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{base}/nothing", timeout=10)
    missing.value.close()
    assert missing.value.code == 404


def test_logs_are_one_json_object_per_line(chain: Chain) -> None:
    lines = [line for line in chain.log.getvalue().splitlines() if line]
    records = [json.loads(line) for line in lines]
    assert records[0]["event"] == "node_started"
    assert any(record["event"] == "block_committed" for record in records)
    assert all({"ts_ms", "node", "event"} <= set(record) for record in records)
