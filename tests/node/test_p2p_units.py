"""Unit tests of the p2p transport's parts that need no network: the grpc status
mapping, backoff, token bucket, send queue and the message codec; plus the
reconnect loop's backoff driven by a fake clock against a closed port."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import grpc
import pytest

from zonechain.node.config import HostPort, PeerAddress
from zonechain.node.crypto import PrivateKey, sign_proposal, sign_transaction, sign_vote
from zonechain.node.init_cli import InitOptions, init_network
from zonechain.node.p2p.clock import Backoff, TokenBucket
from zonechain.node.p2p.credentials import load_tls_material
from zonechain.node.p2p.errors import (
    STATUS_TO_ERROR,
    MessageRejected,
    NotAuthorized,
    PeerFault,
    PeerUnavailable,
    RateLimited,
    error_for_status,
)
from zonechain.node.p2p.limits import TransportLimits
from zonechain.node.p2p.messages import (
    ProposalMessage,
    TransactionsMessage,
    VoteMessage,
    decode_consensus,
    decode_transactions,
    encode_consensus,
    encode_transactions,
)
from zonechain.node.p2p.peer import ConnectionState, PeerConnection, SendQueue
from zonechain.node.types import CallPayload, MalformedMessage, Transaction, VoteType
from zonechain.proto import services_pb2

CHAIN_ID = "zonechain-test"


class FakeClock:
    """Monotonic time that moves only when told; ``wait`` records the delay and returns."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.waits: list[float] = []
        self._changed = threading.Condition()

    def monotonic(self) -> float:
        return self.now

    def wait(self, event: threading.Event, seconds: float) -> bool:
        with self._changed:
            self.waits.append(seconds)
            self.now += seconds
            self._changed.notify_all()
        return event.is_set()

    def wait_for_waits(self, count: int, deadline_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.waits) >= count, deadline_s)


# ---- grpc status mapping ----------------------------------------------------------


def test_every_grpc_status_code_is_classified() -> None:
    # Fails when a grpc upgrade adds a status code nobody mapped (STYLE.md).
    assert set(STATUS_TO_ERROR) == set(grpc.StatusCode)
    assert STATUS_TO_ERROR[grpc.StatusCode.OK] is None
    unmapped = [code for code in grpc.StatusCode
                if code is not grpc.StatusCode.OK and STATUS_TO_ERROR[code] is None]
    assert unmapped == []


@pytest.mark.parametrize(("code", "expected"), [
    (grpc.StatusCode.UNAVAILABLE, PeerUnavailable),
    (grpc.StatusCode.INVALID_ARGUMENT, MessageRejected),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, RateLimited),
    (grpc.StatusCode.UNAUTHENTICATED, NotAuthorized),
    (grpc.StatusCode.INTERNAL, PeerFault),
])
def test_status_translates_to_the_specific_error(code: grpc.StatusCode,
                                                 expected: type[Exception]) -> None:
    error = error_for_status(code, "details here", "node3")
    assert type(error) is expected
    assert error.status is code
    assert "node3" in str(error) and "details here" in str(error)


# ---- backoff and token bucket --------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(initial_s=0.1, multiplier=2.0, max_s=1.0, jitter_fraction=0.0)
    delays = [backoff.delay_s(attempt) for attempt in range(1, 8)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    assert backoff.delay_s(10_000) == pytest.approx(1.0)


def test_backoff_jitter_only_shortens() -> None:
    backoff = Backoff(initial_s=1.0, max_s=8.0, jitter_fraction=0.25,
                      random_fraction=lambda: 1.0)
    assert backoff.delay_s(1) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        backoff.delay_s(0)
    with pytest.raises(ValueError):
        Backoff(jitter_fraction=1.0)


def test_token_bucket_refills_with_the_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10.0, capacity=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.1  # one token back
    assert bucket.take() is True
    assert bucket.take() is False
    clock.now += 100  # refills to capacity, not beyond
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


# ---- send queue ------------------------------------------------------------------------


def test_send_queue_drops_the_oldest_when_full() -> None:
    queue: SendQueue[int] = SendQueue(capacity=3)
    assert [queue.put(item) for item in range(5)] == [True, True, True, False, False]
    assert queue.dropped == 2
    assert [queue.take(lambda: True) for _ in range(4)] == [2, 3, 4, None]


def test_send_queue_take_returns_none_when_woken_to_stop() -> None:
    queue: SendQueue[int] = SendQueue(capacity=1)
    stop = threading.Event()
    result: list[int | None] = []
    taker = threading.Thread(target=lambda: result.append(queue.take(stop.is_set)))
    taker.start()
    stop.set()
    queue.wake()
    taker.join(timeout=10)
    assert result == [None]


# ---- message codec -----------------------------------------------------------------------


def _vote(key: PrivateKey) -> VoteMessage:
    return VoteMessage(sign_vote(key, VoteType.PRECOMMIT, CHAIN_ID, 5, 1, bytes(range(32))))


def _transactions(key: PrivateKey, count: int) -> TransactionsMessage:
    txs = tuple(
        sign_transaction(Transaction(CHAIN_ID, key.public_key, nonce, 100_000, "payments",
                                     CallPayload(bytes(20), "transfer", b"\x01")), key)
        for nonce in range(count))
    return TransactionsMessage(txs)


def test_vote_and_transactions_round_trip_through_the_wire_form() -> None:
    key = PrivateKey.from_seed(bytes(32))
    vote = _vote(key)
    assert decode_consensus(
        services_pb2.ConsensusMessage.FromString(encode_consensus(vote).SerializeToString())
    ) == vote
    batch = _transactions(key, 3)
    assert decode_transactions(encode_transactions(batch)) == batch


def test_malformed_wire_messages_raise_malformed_message_naming_the_field() -> None:
    with pytest.raises(MalformedMessage, match=r"consensus\.message"):
        decode_consensus(services_pb2.ConsensusMessage())
    with pytest.raises(MalformedMessage, match=r"batch\.txs"):
        decode_transactions(services_pb2.TransactionBatch())
    wire = encode_consensus(_vote(PrivateKey.from_seed(bytes(32))))
    wire.vote.chain_id = "bad chain id!"
    with pytest.raises(MalformedMessage, match="chain_id"):
        decode_consensus(wire)


def test_proposal_whose_block_does_not_match_is_rejected() -> None:
    key = PrivateKey.from_seed(bytes(32))
    proposal = sign_proposal(key, CHAIN_ID, 1, 0, None, bytes(32))
    wire = services_pb2.ConsensusMessage(proposal=services_pb2.ProposalMessage(
        proposal=proposal.to_proto()))
    with pytest.raises(MalformedMessage, match="needs both"):
        decode_consensus(wire)
    assert ProposalMessage.__dataclass_fields__.keys() == {"proposal", "block"}


# ---- reconnect backoff against a closed port, on a fake clock -----------------------------


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_peer_connection_backs_off_exponentially_while_the_peer_is_down(
        tmp_path: Path) -> None:
    genesis = init_network(InitOptions(out=tmp_path / "net", validators=1))
    home = tmp_path / "net" / "node0"
    tls = load_tls_material(home / "tls" / "node.crt", home / "tls" / "node.key",
                            home / "tls" / "ca.crt", genesis.ca_fingerprint)
    clock = FakeClock()
    connection = PeerConnection(
        PeerAddress("node1", HostPort("127.0.0.1", _closed_port())), tls, chain_id=CHAIN_ID,
        limits=TransportLimits(connect_timeout_s=10.0), clock=clock,
        backoff=Backoff(initial_s=0.5, multiplier=2.0, max_s=3.0, jitter_fraction=0.0),
    )
    connection.start()
    try:
        assert clock.wait_for_waits(5, deadline_s=60), clock.waits
    finally:
        connection.close()
    assert clock.waits[:5] == pytest.approx([0.5, 1.0, 2.0, 3.0, 3.0])
    assert connection.connections_made == 0
    assert isinstance(connection.last_error, PeerUnavailable)
    assert connection.state is ConnectionState.CLOSED
