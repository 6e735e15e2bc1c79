"""Bad input on every method of a running node's PEER service: typed rejections, no harm.

One in-process validator (it commits on its own). Each Peer method gets
undecodable bytes, well-formed protobuf that breaks a type rule, a message
over the size limit, a caller without a client certificate and a caller whose
CA-signed certificate names no node; the consensus and gossip streams also get
messages with forged signatures (accepted by the transport, ignored by the
node). Each call ends with its specific status code, and afterwards the node
still answers and keeps committing. (The client service is covered by
test_service.py.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from tests.node.fixtures.anonymous import anonymous_credentials as anonymous_network_credentials
from tests.node.test_node_support import running_node, write_single_validator_network
from zonechain.node.config import load_node_config
from zonechain.node.crypto import PrivateKey
from zonechain.node.node import Node
from zonechain.node.p2p import TlsMaterial, TransactionsMessage, VoteMessage, load_tls_material
from zonechain.node.p2p.limits import PEER_MESSAGE_BYTES_MAX
from zonechain.node.p2p.messages import encode_consensus, encode_transactions
from zonechain.node.p2p.server import PEER_SERVICE
from zonechain.node.types import CallPayload, SignedTransaction, Transaction, Vote, VoteType
from zonechain.proto import services_pb2, types_pb2

DEADLINE_S = 20.0
COMMITS_AFTER = 3
"""Blocks the node must still commit after all the bad calls."""
GARBAGE = b"\x0a\xff\xff\xff"  # field 1, length-delimited, length running past the end
OVERSIZED = b"\x00" * (PEER_MESSAGE_BYTES_MAX + 1)
METHODS = ("Consensus", "GossipTransactions", "PeerStatus", "SyncBlocks")


@dataclass
class Served:
    node: Node
    root: Path
    tls: TlsMaterial

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.node.p2p_port}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("peer-service")
    home = write_single_validator_network(root)
    config = load_node_config(home / "config.toml")
    with running_node(home) as (node, _):
        material = load_tls_material(config.paths.tls_certificate, config.paths.tls_key,
                                     config.paths.tls_ca, node.genesis.ca_fingerprint)
        assert node.wait_for_height(1, DEADLINE_S)
        yield Served(node, root, material)
        assert node.fault is None


def channel(served: Served, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    return grpc.secure_channel(served.address, credentials or served.tls.channel_credentials(),
                               options=options)


def call(opened: grpc.Channel, method: str, payload: bytes) -> object:
    """Call ``method`` with raw bytes in its shape (one-message stream for streams)."""
    path = f"/{PEER_SERVICE}/{method}"
    if method in ("Consensus", "GossipTransactions"):
        return opened.stream_unary(path, None, None)(iter([payload]), timeout=DEADLINE_S)
    if method == "SyncBlocks":
        return list(opened.unary_stream(path, None, None)(payload, timeout=DEADLINE_S))
    return opened.unary_unary(path, None, None)(payload, timeout=DEADLINE_S)


def code_of(action: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        action()
    error = caught.value
    assert isinstance(error, grpc.Call)
    return error.code(), error.details() or ""


def peer_status(opened: grpc.Channel, chain_id: str) -> services_pb2.PeerStatusResponse:
    raw = call(opened, "PeerStatus",
               services_pb2.PeerStatusRequest(chain_id=chain_id).SerializeToString())
    assert isinstance(raw, bytes)
    return services_pb2.PeerStatusResponse.FromString(raw)


def assert_still_serving(served: Served) -> None:
    node = served.node
    target = node.ledger.height + COMMITS_AFTER
    assert node.wait_for_height(target, DEADLINE_S)
    with channel(served) as opened:
        assert peer_status(opened, node.chain_id).height >= target
    assert node.fault is None and not node.stopping


def rule_breaking(method: str, served: Served) -> bytes:
    """Valid protobuf that breaks a type rule (or the method's own rules)."""
    if method == "Consensus":
        wire = services_pb2.ConsensusMessage(vote=types_pb2.Vote(signature=b"short"))
        return wire.SerializeToString()
    if method == "GossipTransactions":
        return services_pb2.TransactionBatch(
            txs=[types_pb2.SignedTransaction(signature=b"short")]).SerializeToString()
    if method == "PeerStatus":
        return services_pb2.PeerStatusRequest(chain_id="another-chain").SerializeToString()
    return services_pb2.BlockRangeRequest(from_height=0).SerializeToString()


EXPECTED_RULE_CODE = {
    "Consensus": grpc.StatusCode.INVALID_ARGUMENT,
    "GossipTransactions": grpc.StatusCode.INVALID_ARGUMENT,
    "PeerStatus": grpc.StatusCode.FAILED_PRECONDITION,
    "SyncBlocks": grpc.StatusCode.OUT_OF_RANGE,
}


@pytest.mark.parametrize("method", METHODS)
def test_undecodable_bytes_are_invalid_argument(served: Served, method: str) -> None:
    with channel(served) as opened:
        code, details = code_of(lambda: call(opened, method, GARBAGE))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "not valid protobuf" in details


@pytest.mark.parametrize("method", METHODS)
def test_rule_breaking_messages_get_their_specific_code(served: Served, method: str) -> None:
    with channel(served) as opened:
        code, _ = code_of(lambda: call(opened, method, rule_breaking(method, served)))
    assert code is EXPECTED_RULE_CODE[method]


@pytest.mark.parametrize("method", METHODS)
def test_oversized_messages_are_resource_exhausted(served: Served, method: str) -> None:
    with channel(served) as opened:
        code, _ = code_of(lambda: call(opened, method, OVERSIZED))
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("method", METHODS)
def test_a_caller_without_a_client_certificate_is_refused(served: Served, method: str) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=served.tls.ca_pem)
    with channel(served, credentials) as opened:
        code, _ = code_of(lambda: call(opened, method, b""))
    assert code is grpc.StatusCode.UNAVAILABLE  # the TLS handshake fails


def anonymous_credentials(served: Served) -> grpc.ChannelCredentials:
    """A certificate signed by the network CA that names no node."""
    return anonymous_network_credentials(served.root, served.tls.ca_pem)


@pytest.mark.parametrize("method", METHODS)
def test_a_certificate_without_a_node_identity_is_unauthenticated(served: Served,
                                                                   method: str) -> None:
    with channel(served, anonymous_credentials(served)) as opened:
        code, details = code_of(lambda: call(opened, method, b""))
    assert code is grpc.StatusCode.UNAUTHENTICATED
    assert "identity" in details


def test_forged_votes_and_transactions_are_accepted_by_the_transport_and_ignored(
    served: Served,
) -> None:
    node = served.node
    stranger = PrivateKey.from_seed(b"\x42" * 32)
    assert node.key is not None
    height = node.ledger.height + 1
    forged_vote = Vote(VoteType.PRECOMMIT, node.chain_id, height, 0, b"\x01" * 32,
                       node.key.address, b"\x00" * 64)  # claims to be the validator
    stranger_vote = VoteMessage(Vote(VoteType.PRECOMMIT, node.chain_id, height, 0,
                                     b"\x01" * 32, stranger.address, b"\x00" * 64))
    tx = Transaction(node.chain_id, stranger.public_key, 0, 50_000, "payments",
                     CallPayload(bytes(20), "transfer", b""))
    forged_tx = TransactionsMessage((SignedTransaction(tx, b"\x00" * 64),))
    with channel(served) as opened:
        for message in (VoteMessage(forged_vote), stranger_vote):
            assert call(opened, "Consensus",
                        encode_consensus(message).SerializeToString()) is not None
        assert call(opened, "GossipTransactions",
                    encode_transactions(forged_tx).SerializeToString()) is not None
    assert_still_serving(served)
    assert node.store.tx_location(forged_tx.txs[0].hash) is None
    assert len(node.mempool) == 0


def test_after_all_of_it_the_node_still_serves_and_commits(served: Served) -> None:
    assert_still_serving(served)
