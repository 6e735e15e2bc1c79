"""The server side of the peer service (proto/services.proto ``Peer``) over mutual TLS.

Guarantees:
- Only clients whose certificate chains to the network CA get past the TLS
  handshake (``require_client_auth=True``). Each call is attributed to the
  peer named by the certificate's identity URI (node/tls.py); a certificate
  without one is refused with UNAUTHENTICATED.
- Handlers are thin: they parse the raw bytes (the server registers identity
  deserializers, so undecodable protobuf is OUR typed rejection, not grpc's
  INTERNAL), convert with ``from_proto``, and hand the typed message to the
  injected inbox. A malformed message ends that call with INVALID_ARGUMENT
  and a message naming the field; the server keeps serving everyone else.
- Limits on every method: message bytes (grpc max_receive/send_message_length),
  a token bucket per peer over all its messages (RESOURCE_EXHAUSTED when
  empty), concurrent calls per peer and for the whole server (both
  RESOURCE_EXHAUSTED), and blocks per SyncBlocks call. See limits.py.
- An inbox that raises is a bug in the receiver: the call ends with INTERNAL
  and the error is logged; the transport itself keeps running.
- Consensus senders: when the node gives a ``consensus_senders`` predicate,
  a proposal or vote reaches the inbox only if the predicate accepts the
  sender's certificate identity (a node passes "its validator key is in the
  validator set of the last committed height H, of H+1 or of H+2"). Any
  other peer is treated as a full node: it may still sync blocks, ask for
  status and gossip transactions, but its consensus messages are dropped and
  counted (``consensus_refused``). The stream stays open, so a validator that
  enters the set later needs no reconnect. Without a predicate every
  CA-signed peer may send consensus messages (tests, tools).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Final, TypeVar

import grpc
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from zonechain.node.config import HostPort
from zonechain.node.p2p.clock import Clock, SystemClock, TokenBucket
from zonechain.node.p2p.credentials import TlsMaterial
from zonechain.node.p2p.errors import ListenFailed
from zonechain.node.p2p.limits import TransportLimits
from zonechain.node.p2p.messages import (
    Inbox,
    PeerMessage,
    decode_consensus,
    decode_transactions,
)
from zonechain.node.tls import PeerIdentity, TlsError, peer_identity_from_pem
from zonechain.node.types.block import Block
from zonechain.node.types.commit import Commit
from zonechain.node.types.errors import MalformedMessage
from zonechain.proto import services_pb2

LOG = logging.getLogger(__name__)

PEER_SERVICE: Final = services_pb2.DESCRIPTOR.services_by_name["Peer"].full_name
"""``zonechain.v1.Peer``: read from the generated descriptor, never retyped."""

_ACK: Final = services_pb2.PeerAck().SerializeToString()
_PEER_CERTIFICATE_KEY: Final = "x509_pem_cert"
IDENTITY_CACHE_ENTRIES_MAX: Final = 1_024
"""Parsed peer certificates remembered (a network has at most a few hundred nodes)."""

M = TypeVar("M", bound=Message)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PeerStatusInfo:
    """What PeerStatus answers: our latest committed height and validator address."""

    height: int
    validator: bytes


StatusProvider = Callable[[], PeerStatusInfo]
ConsensusSenders = Callable[[PeerIdentity], bool]
"""Whether a peer (its certificate identity) may send proposals and votes now."""
BlockSource = Callable[[int, int], Iterable[tuple[Block, Commit]]]
"""(from_height, to_height inclusive) -> committed blocks with their certificates, in order."""


def _no_blocks(from_height: int, to_height: int) -> Iterable[tuple[Block, Commit]]:
    return ()


class _PeerState:
    __slots__ = ("active_calls", "bucket")

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket
        self.active_calls = 0


class PeerServer:
    """Serves the Peer service for one node; ``start`` binds, ``stop`` ends all calls."""

    def __init__(self, *, chain_id: str, tls: TlsMaterial, inbox: Inbox,
                 status: StatusProvider | None = None, blocks: BlockSource | None = None,
                 limits: TransportLimits | None = None, clock: Clock | None = None,
                 consensus_senders: ConsensusSenders | None = None) -> None:
        self._chain_id = chain_id
        self._consensus_senders = consensus_senders
        self.consensus_refused = 0
        """Consensus messages dropped because their sender is not a current validator."""
        self._tls = tls
        self._inbox = inbox
        self._status = status or (lambda: PeerStatusInfo(0, b""))
        self._blocks = blocks or _no_blocks
        self._limits = limits or TransportLimits()
        self._clock = clock or SystemClock()
        self._peers: dict[str, _PeerState] = {}
        self._identities: dict[bytes, PeerIdentity] = {}
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None

    # ---- lifecycle ---------------------------------------------------------------

    def start(self, listen: HostPort) -> int:
        """Listen on ``listen`` (port 0: any free port); returns the bound port."""
        workers = self._limits.server_concurrent_rpcs_max
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="p2p-server"),
            handlers=[self._generic_handler()],
            options=[*self._limits.grpc_options(), ("grpc.so_reuseport", 0)],
            maximum_concurrent_rpcs=workers,
        )
        try:
            port = server.add_secure_port(str(listen), self._tls.server_credentials())
        except RuntimeError as error:
            raise ListenFailed(f"cannot listen on {listen}: {error}") from None
        if port == 0:
            raise ListenFailed(f"cannot listen on {listen}")
        server.start()
        self._server = server
        return port

    def stop(self, grace_s: float | None = None) -> None:
        """Stop listening and end every call (after ``grace_s`` seconds if given)."""
        if self._server is not None:
            self._server.stop(grace_s).wait()
            self._server = None

    def _generic_handler(self) -> grpc.GenericRpcHandler[bytes, bytes]:
        return grpc.method_handlers_generic_handler(PEER_SERVICE, {
            "Consensus": grpc.stream_unary_rpc_method_handler(self._consensus),
            "GossipTransactions": grpc.stream_unary_rpc_method_handler(self._gossip),
            "PeerStatus": grpc.unary_unary_rpc_method_handler(self._peer_status),
            "SyncBlocks": grpc.unary_stream_rpc_method_handler(self._sync_blocks),
        })

    # ---- handlers -------------------------------------------------------------------

    def _consensus(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        identity, state = self._admit(context)
        try:
            for data in requests:
                self._charge(state, context)
                if not self._may_send_consensus(identity):
                    continue  # dropped before decoding: a non-validator costs no parsing
                wire = _parse(services_pb2.ConsensusMessage, data, context)
                self._deliver(identity, _convert(decode_consensus, wire, context), context)
        finally:
            self._release(state)
        return _ACK

    def _gossip(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        identity, state = self._admit(context)
        try:
            for data in requests:
                self._charge(state, context)
                wire = _parse(services_pb2.TransactionBatch, data, context)
                self._deliver(identity, _convert(decode_transactions, wire, context), context)
        finally:
            self._release(state)
        return _ACK

    def _peer_status(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        _, state = self._admit(context)
        try:
            self._charge(state, context)
            request = _parse(services_pb2.PeerStatusRequest, data, context)
            self._check_chain_id(request.chain_id, context)
            info = self._status()
            return services_pb2.PeerStatusResponse(
                chain_id=self._chain_id, height=info.height, validator=info.validator,
            ).SerializeToString()
        finally:
            self._release(state)

    def _sync_blocks(self, data: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        _, state = self._admit(context)
        try:
            self._charge(state, context)
            request = _parse(services_pb2.BlockRangeRequest, data, context)
            first, last = self._block_range(request, context)
            for block, commit in self._blocks(first, last):
                yield services_pb2.BlockWithCommit(
                    block=block.to_proto(), commit=commit.to_proto()).SerializeToString()
        finally:
            self._release(state)

    # ---- admission and limits --------------------------------------------------------

    def _admit(self, context: grpc.ServicerContext) -> tuple[PeerIdentity, _PeerState]:
        identity = self._identify(context)
        with self._lock:
            state = self._peers.get(identity.node_id)
            if state is None:
                bucket = TokenBucket(self._limits.messages_per_second,
                                     self._limits.messages_burst, self._clock)
                state = self._peers[identity.node_id] = _PeerState(bucket)
            if state.active_calls >= self._limits.peer_concurrent_rpcs_max:
                busy = True
            else:
                busy = False
                state.active_calls += 1
        if busy:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"more than {self._limits.peer_concurrent_rpcs_max} calls open")
        return identity, state

    def _may_send_consensus(self, identity: PeerIdentity) -> bool:
        """Whether ``identity`` may send consensus messages; counts a refusal."""
        if self._consensus_senders is None or self._consensus_senders(identity):
            return True
        with self._lock:
            self.consensus_refused += 1
        LOG.debug("consensus message from non-validator peer %s dropped", identity.node_id)
        return False

    def _release(self, state: _PeerState) -> None:
        with self._lock:
            state.active_calls -= 1

    def _identify(self, context: grpc.ServicerContext) -> PeerIdentity:
        pem = _first_bytes(context.auth_context().get(_PEER_CERTIFICATE_KEY))
        if not pem:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "no client certificate")
        with self._lock:
            cached = self._identities.get(pem)
        if cached is not None:
            return cached
        try:
            identity = peer_identity_from_pem(pem)
        except TlsError as error:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
        with self._lock:
            if len(self._identities) >= IDENTITY_CACHE_ENTRIES_MAX:
                self._identities.clear()
            self._identities[pem] = identity
        return identity

    def _charge(self, state: _PeerState, context: grpc.ServicerContext) -> None:
        if not state.bucket.take():
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"rate limit: {self._limits.messages_per_second} messages/s")

    def _check_chain_id(self, chain_id: str, context: grpc.ServicerContext) -> None:
        if chain_id != self._chain_id:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          f"chain id {chain_id!r} is not ours ({self._chain_id!r})")

    def _block_range(self, request: services_pb2.BlockRangeRequest,
                     context: grpc.ServicerContext) -> tuple[int, int]:
        first = request.from_height
        if first < 1 or (request.to_height != 0 and request.to_height < first):
            context.abort(grpc.StatusCode.OUT_OF_RANGE,
                          f"bad block range {first}..{request.to_height}")
        last = first + self._limits.sync_blocks_per_request_max - 1
        if request.to_height != 0:
            last = min(last, request.to_height)
        return first, last

    def _deliver(self, sender: PeerIdentity, message: PeerMessage,
                 context: grpc.ServicerContext) -> None:
        try:
            self._inbox(sender, message)
        except Exception:
            LOG.exception("p2p inbox failed on a message from %s", sender.node_id)
            context.abort(grpc.StatusCode.INTERNAL, "the receiving node failed")


def _first_bytes(value: object) -> bytes:
    """The first entry of an auth-context property (grpc gives a list of bytes;
    the grpc-stubs annotation says bytes, so accept both)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, list | tuple) and value and isinstance(value[0], bytes):
        return value[0]
    return b""


def _parse(message_class: type[M], data: bytes, context: grpc.ServicerContext) -> M:
    try:
        return message_class.FromString(data)
    except (ProtobufDecodeError, ValueError) as error:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                      f"{message_class.DESCRIPTOR.name}: not valid protobuf ({error})")


def _convert(decode: Callable[[M], T], wire: M, context: grpc.ServicerContext) -> T:
    try:
        return decode(wire)
    except MalformedMessage as error:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
