"""The client side: one connection manager per peer, with reconnect and bounded queues.

Guarantees:
- A ``PeerConnection`` owns one background thread that dials the peer over
  mutual TLS (our certificate, trusting only the network CA, and requiring
  the server's certificate to name the peer's node id), keeps one
  Consensus stream and one GossipTransactions stream open on it, and when
  either ends, closes the channel and dials again after an exponential
  backoff (clock.py ``Backoff``; delays are waited on the injected Clock).
  A connection counts as up once a PeerStatus call on it succeeds (TLS
  handshake done, same chain id); the backoff resets only after a connection
  stayed up for STABLE_CONNECTION_S, so a peer that accepts and then drops
  every connection is retried ever more slowly, not in a tight loop.
- ``send`` never blocks: each stream has a bounded queue
  (``send_queue_messages_max``) and when it is full the OLDEST message is
  dropped (counted in ``dropped``). Consensus and transaction gossip have
  separate queues, so a flood of transactions cannot delay a vote.
- Delivery is at most once: a message taken from the queue just as the
  connection breaks is lost, never sent twice. Consensus tolerates loss
  (round timeouts, re-gossip); nothing here retries a message.
- ``status`` and ``sync_blocks`` are request/response calls on the current
  channel; their failures are TransportErrors (errors.py), never raw grpc.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Final, Generic, TypeVar

import grpc

from zonechain.node.config import PeerAddress
from zonechain.node.p2p.clock import Backoff, Clock, SystemClock
from zonechain.node.p2p.credentials import TlsMaterial
from zonechain.node.p2p.errors import (
    PeerUnavailable,
    TransportError,
    from_rpc_error,
)
from zonechain.node.p2p.limits import TransportLimits
from zonechain.node.p2p.messages import (
    PeerMessage,
    TransactionsMessage,
    encode_consensus,
    encode_transactions,
)
from zonechain.node.p2p.server import PEER_SERVICE
from zonechain.node.tls import node_host_name
from zonechain.node.types.block import Block
from zonechain.node.types.commit import Commit
from zonechain.node.types.errors import MalformedMessage
from zonechain.proto import services_pb2

T = TypeVar("T")

STATUS_TIMEOUT_S: Final = 5.0
"""A PeerStatus call: one small round trip (~1 ms measured); 5 s means the peer is stuck."""

SYNC_BLOCK_TIMEOUT_S: Final = 60.0
"""A whole SyncBlocks call: up to 256 blocks of up to 8 MiB."""


STABLE_CONNECTION_S: Final = 10.0
"""A connection that lasted this long was healthy: the next failure starts the
backoff again from its initial delay."""


class ConnectionState(enum.Enum):
    CONNECTING = "connecting"
    READY = "ready"
    BACKOFF = "backoff"
    CLOSED = "closed"


class SendQueue(Generic[T]):
    """A bounded FIFO that drops its oldest item when full; ``take`` waits for an item."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("SendQueue capacity must be at least 1")
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._condition = threading.Condition()
        self.dropped = 0

    def __len__(self) -> int:
        with self._condition:
            return len(self._items)

    def put(self, item: T) -> bool:
        """Append ``item``; False if the oldest item had to be dropped to make room."""
        with self._condition:
            kept = len(self._items) < self._capacity
            if not kept:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._condition.notify()
            return kept

    def take(self, stop: Callable[[], bool]) -> T | None:
        """The oldest item, waiting for one; None once ``stop()`` is true (see ``wake``)."""
        with self._condition:
            while not self._items:
                if stop():
                    return None
                self._condition.wait()
            return self._items.popleft()

    def wake(self) -> None:
        """Make waiting ``take`` calls re-check their stop condition."""
        with self._condition:
            self._condition.notify_all()


class PeerConnection:
    """Keeps a connection to one peer alive and streams queued messages to it."""

    def __init__(self, peer: PeerAddress, tls: TlsMaterial, *, chain_id: str,
                 limits: TransportLimits | None = None, clock: Clock | None = None,
                 backoff: Backoff | None = None) -> None:
        self.peer = peer
        self._tls = tls
        self._chain_id = chain_id
        self._limits = limits or TransportLimits()
        self._clock = clock or SystemClock()
        self._backoff = backoff or Backoff()
        self._consensus_queue: SendQueue[bytes] = SendQueue(self._limits.send_queue_messages_max)
        self._gossip_queue: SendQueue[bytes] = SendQueue(self._limits.send_queue_messages_max)
        self._closed = threading.Event()
        self._state_changed = threading.Condition()
        self._state = ConnectionState.CONNECTING
        self._channel: grpc.Channel | None = None
        self._streams_done: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self.connections_made = 0
        self.last_error: TransportError | None = None

    # ---- public API -----------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        with self._state_changed:
            return self._state

    @property
    def dropped(self) -> int:
        """Messages dropped because a send queue was full."""
        return self._consensus_queue.dropped + self._gossip_queue.dropped

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("PeerConnection already started")
        self._thread = threading.Thread(target=self._run, name=f"p2p-peer-{self.peer.node_id}",
                                        daemon=True)
        self._thread.start()

    def send(self, message: PeerMessage) -> bool:
        """Queue ``message`` for the peer; False if an older message was dropped for it."""
        return self.send_encoded(*encode_message(message))

    def send_encoded(self, gossip: bool, data: bytes) -> bool:
        """Queue bytes from ``encode_message`` (a broadcast encodes once for all peers)."""
        return (self._gossip_queue if gossip else self._consensus_queue).put(data)

    def wait_for_state(self, state: ConnectionState, timeout_s: float) -> bool:
        """Block until the connection is in ``state`` or ``timeout_s`` passes."""
        with self._state_changed:
            return self._state_changed.wait_for(lambda: self._state is state, timeout_s)

    def close(self) -> None:
        """Stop reconnecting, end both streams and close the channel; waits for the thread."""
        self._closed.set()
        with self._state_changed:
            done = self._streams_done
        if done is not None:
            done.set()
        self._consensus_queue.wake()
        self._gossip_queue.wake()
        if self._thread is not None:
            self._thread.join()
        self._set_state(ConnectionState.CLOSED)

    def status(self, timeout_s: float = STATUS_TIMEOUT_S) -> services_pb2.PeerStatusResponse:
        """The peer's PeerStatus answer; TransportError if it cannot be had."""
        channel = self._current_channel()
        call = channel.unary_unary(
            f"/{PEER_SERVICE}/PeerStatus",
            request_serializer=services_pb2.PeerStatusRequest.SerializeToString,
            response_deserializer=services_pb2.PeerStatusResponse.FromString,
        )
        try:
            response: services_pb2.PeerStatusResponse = call(
                services_pb2.PeerStatusRequest(chain_id=self._chain_id), timeout=timeout_s)
        except grpc.RpcError as error:
            raise from_rpc_error(error, self.peer.node_id) from None
        return response

    def sync_blocks(self, from_height: int, to_height: int = 0,
                    timeout_s: float = SYNC_BLOCK_TIMEOUT_S) -> Iterator[tuple[Block, Commit]]:
        """Committed blocks from the peer, decoded; TransportError or MalformedMessage on failure.

        Commits are NOT verified here: block sync verifies each against the validator set.
        """
        channel = self._current_channel()
        call = channel.unary_stream(
            f"/{PEER_SERVICE}/SyncBlocks",
            request_serializer=services_pb2.BlockRangeRequest.SerializeToString,
            response_deserializer=services_pb2.BlockWithCommit.FromString,
        )
        request = services_pb2.BlockRangeRequest(from_height=from_height, to_height=to_height)
        try:
            for item in call(request, timeout=timeout_s):
                if not item.HasField("block") or not item.HasField("commit"):
                    raise MalformedMessage("sync.block", "needs both block and commit")
                yield Block.from_proto(item.block), Commit.from_proto(item.commit)
        except grpc.RpcError as error:
            raise from_rpc_error(error, self.peer.node_id) from None

    # ---- connection loop ----------------------------------------------------------

    def _current_channel(self) -> grpc.Channel:
        with self._state_changed:
            channel = self._channel if self._state is ConnectionState.READY else None
        if channel is None:
            raise PeerUnavailable(f"peer {self.peer.node_id}: not connected")
        return channel

    def _channel_options(self) -> list[tuple[str, int | str]]:
        # The server's certificate must name the node we mean to reach, not just its address.
        target = ("grpc.ssl_target_name_override", node_host_name(self.peer.node_id))
        return [*self._limits.grpc_options(), target]

    def _set_state(self, state: ConnectionState) -> None:
        with self._state_changed:
            self._state = state
            self._state_changed.notify_all()

    def _run(self) -> None:
        failures = 0
        while not self._closed.is_set():
            self._set_state(ConnectionState.CONNECTING)
            channel = grpc.secure_channel(str(self.peer.address), self._tls.channel_credentials(),
                                          options=self._channel_options())
            try:
                if self._handshake(channel):
                    self.connections_made += 1
                    connected_at = self._clock.monotonic()
                    self._stream(channel)
                    if self._clock.monotonic() - connected_at >= STABLE_CONNECTION_S:
                        failures = 0
            finally:
                with self._state_changed:
                    self._channel = None
                channel.close()
            if self._closed.is_set():
                break
            failures += 1
            self._set_state(ConnectionState.BACKOFF)
            self._clock.wait(self._closed, self._backoff.delay_s(failures))

    def _handshake(self, channel: grpc.Channel) -> bool:
        """True once a PeerStatus call on ``channel`` succeeds (TLS up, same chain id).

        A real call rather than a connectivity watch: it proves the peer serves
        our chain, and grpc's connectivity polling thread races channel close.
        """
        settled = threading.Event()
        with self._state_changed:
            self._streams_done = settled  # close() sets it, ending the wait early
        if self._closed.is_set():
            return False  # close() ran before it could see ``settled``
        call = channel.unary_unary(
            f"/{PEER_SERVICE}/PeerStatus",
            request_serializer=services_pb2.PeerStatusRequest.SerializeToString,
            response_deserializer=services_pb2.PeerStatusResponse.FromString,
        )
        future: grpc.Future[services_pb2.PeerStatusResponse] = call.future(
            services_pb2.PeerStatusRequest(chain_id=self._chain_id),
            timeout=self._limits.connect_timeout_s)
        future.add_done_callback(lambda _: settled.set())
        settled.wait()
        if self._closed.is_set():
            future.cancel()
            return False
        try:
            future.result()
        except grpc.RpcError as error:
            self.last_error = from_rpc_error(error, self.peer.node_id)
            return False
        except grpc.FutureCancelledError:
            return False
        return True

    def _stream(self, channel: grpc.Channel) -> None:
        """Run both streams on ``channel`` until one ends or the connection is closed."""
        done = threading.Event()
        with self._state_changed:
            self._streams_done = done
            self._channel = channel
        if self._closed.is_set():
            return
        self._set_state(ConnectionState.READY)
        calls = [self._open_stream(channel, "Consensus", self._consensus_queue, done),
                 self._open_stream(channel, "GossipTransactions", self._gossip_queue, done)]
        done.wait()
        for call in calls:
            call.cancel()
        for call in calls:
            try:
                error = call.exception()
            except grpc.FutureCancelledError:
                continue  # we ended it: the other stream's end is the reason
            if isinstance(error, grpc.RpcError) and not self._closed.is_set():
                self.last_error = from_rpc_error(error, self.peer.node_id)

    def _open_stream(self, channel: grpc.Channel, method: str, queue: SendQueue[bytes],
                     done: threading.Event) -> grpc.Future[bytes]:
        call = channel.stream_unary(f"/{PEER_SERVICE}/{method}", request_serializer=None,
                                    response_deserializer=None)
        future: grpc.Future[bytes] = call.future(_drain(queue, done))

        def finished(_: object) -> None:
            done.set()
            self._consensus_queue.wake()
            self._gossip_queue.wake()

        future.add_done_callback(finished)
        return future


def _drain(queue: SendQueue[bytes], done: threading.Event) -> Iterator[bytes]:
    """The request iterator of a stream: queued messages until ``done`` is set."""
    while True:
        item = queue.take(done.is_set)
        if item is None:
            return
        yield item


def encode_message(message: PeerMessage) -> tuple[bool, bytes]:
    """(whether it goes on the gossip stream, its wire bytes) for ``send_encoded``."""
    if isinstance(message, TransactionsMessage):
        return True, encode_transactions(message).SerializeToString()
    return False, encode_consensus(message).SerializeToString()
