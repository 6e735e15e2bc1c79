"""The peer transport over real loopback gRPC with mutual TLS.

Every server binds port 0; every wait is on a condition with a deadline.
Messages come from the network that ``zonechain init`` writes, so the
certificates are exactly the ones a node would use.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from tests.node.fixtures.anonymous import anonymous_credentials
from zonechain.node import tls
from zonechain.node.config import (
    Genesis,
    HostPort,
    PeerAddress,
    load_node_config,
    load_validator_key,
    parse_node_config,
)
from zonechain.node.consensus.driver import Transport as ConsensusTransport
from zonechain.node.crypto import PrivateKey, sign_proposal, sign_transaction, sign_vote
from zonechain.node.init_cli import InitOptions, init_network
from zonechain.node.p2p import (
    ListenFailed,
    PeerMessage,
    PeerServer,
    PeerStatusInfo,
    PeerTransport,
    PeerUnavailable,
    ProposalMessage,
    RateLimited,
    TlsMaterial,
    TransactionsMessage,
    TransportLimits,
    VoteMessage,
    load_tls_material,
)
from zonechain.node.p2p.clock import Backoff
from zonechain.node.p2p.messages import encode_consensus
from zonechain.node.p2p.peer import ConnectionState, PeerConnection
from zonechain.node.p2p.server import PEER_SERVICE
from zonechain.node.tls import PeerIdentity
from zonechain.node.types import (
    Block,
    BlockHeader,
    CallPayload,
    Commit,
    CommitSignature,
    Transaction,
    VoteType,
)
from zonechain.proto import services_pb2, types_pb2

DEADLINE_S = 20.0
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Network:
    root: Path
    genesis: Genesis
    tls: dict[str, TlsMaterial]
    keys: dict[str, PrivateKey]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    return build_network(tmp_path_factory.mktemp("p2p") / "net")


def build_network(root: Path) -> Network:
    """Two validators and a full node written by ``init``, with their TLS material."""
    genesis = init_network(InitOptions(out=root, validators=2, full_nodes=1))
    materials: dict[str, TlsMaterial] = {}
    keys: dict[str, PrivateKey] = {}
    for node_id in ("node0", "node1", "node2"):
        config = load_node_config(root / node_id / "config.toml")
        materials[node_id] = load_tls_material(
            config.paths.tls_certificate, config.paths.tls_key, config.paths.tls_ca,
            genesis.ca_fingerprint)
        if config.paths.validator_key is not None:
            keys[node_id] = load_validator_key(config.paths.validator_key)
    return Network(root, genesis, materials, keys)


class Inbox:
    """Collects delivered messages; waits on a condition with a deadline."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.received: list[tuple[PeerIdentity, PeerMessage]] = []
        self._condition = threading.Condition()
        self._gate = gate
        self.entered = threading.Event()

    def __call__(self, sender: PeerIdentity, message: PeerMessage) -> None:
        self.entered.set()
        if self._gate is not None:
            self._gate.wait(DEADLINE_S)
        with self._condition:
            self.received.append((sender, message))
            self._condition.notify_all()

    def wait_for(self, count: int) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: len(self.received) >= count, DEADLINE_S)


class StillClock:
    """A clock that never moves: a token bucket never refills."""

    def monotonic(self) -> float:
        return 0.0

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(seconds)


def _vote(network: Network, node_id: str = "node0", height: int = 1) -> VoteMessage:
    return VoteMessage(sign_vote(network.keys[node_id], VoteType.PREVOTE,
                                 network.genesis.chain_id, height, 0, bytes(32)))


def _batch(network: Network, node_id: str) -> TransactionsMessage:
    key = network.keys[node_id]
    tx = Transaction(network.genesis.chain_id, key.public_key, 0, 50_000, "payments",
                     CallPayload(bytes(20), "transfer", b""))
    return TransactionsMessage((sign_transaction(tx, key),))


def _start_server(network: Network, inbox: Inbox, node_id: str = "node1",
                  limits: TransportLimits | None = None,
                  clock: StillClock | None = None, port: int = 0) -> tuple[PeerServer, int]:
    server = PeerServer(chain_id=network.genesis.chain_id, tls=network.tls[node_id],
                        inbox=inbox, status=lambda: PeerStatusInfo(7, b"\x01" * 20),
                        limits=limits, clock=clock)
    return server, server.start(HostPort(LOOPBACK, port))


def _channel(credentials: grpc.ChannelCredentials, port: int) -> grpc.Channel:
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    return grpc.secure_channel(f"{LOOPBACK}:{port}", credentials, options=options)


def _status_call(channel: grpc.Channel, chain_id: str,
                 ) -> services_pb2.PeerStatusResponse:
    call = channel.unary_unary(
        f"/{PEER_SERVICE}/PeerStatus",
        request_serializer=services_pb2.PeerStatusRequest.SerializeToString,
        response_deserializer=services_pb2.PeerStatusResponse.FromString)
    response: services_pb2.PeerStatusResponse = call(
        services_pb2.PeerStatusRequest(chain_id=chain_id), timeout=DEADLINE_S)
    return response


def _raw_call(channel: grpc.Channel, method: str) -> Callable[[bytes], bytes]:
    """A generic unary call that sends and receives raw bytes (identity serializers)."""
    call = channel.unary_unary(f"/{PEER_SERVICE}/{method}", request_serializer=None,
                               response_deserializer=None)

    def invoke(data: bytes) -> bytes:
        result: bytes = call(data, timeout=DEADLINE_S)
        return result

    return invoke


def _raw_stream(channel: grpc.Channel, method: str, items: list[bytes]) -> bytes:
    call = channel.stream_unary(f"/{PEER_SERVICE}/{method}", request_serializer=None,
                                response_deserializer=None)
    result: bytes = call(iter(items), timeout=DEADLINE_S)
    return result


def _code_of(action: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        action()
    error = caught.value
    assert isinstance(error, grpc.Call)
    return error.code(), error.details() or ""


# ---- exchange over mutual TLS ---------------------------------------------------------------


def test_two_transports_exchange_messages_over_mutual_tls(network: Network) -> None:
    inbox0, inbox1 = Inbox(), Inbox()
    chain_id = network.genesis.chain_id
    node0 = PeerTransport(chain_id=chain_id, tls=network.tls["node0"],
                          listen=HostPort(LOOPBACK, 0), peers=[], inbox=inbox0)
    node1 = PeerTransport(chain_id=chain_id, tls=network.tls["node1"],
                          listen=HostPort(LOOPBACK, 0), peers=[], inbox=inbox1)
    port0, port1 = node0.start(), node1.start()
    try:
        node0.add_peer(PeerAddress("node1", HostPort(LOOPBACK, port1)))
        node1.add_peer(PeerAddress("node0", HostPort(LOOPBACK, port0)))
        vote = _vote(network, "node0")
        node0.broadcast(vote)
        assert node1.send("node0", _batch(network, "node1")) is True
        assert inbox1.wait_for(1) and inbox0.wait_for(1)
        sender, message = inbox1.received[0]
        assert message == vote
        assert sender == PeerIdentity("node0", network.keys["node0"].public_key)
        sender, message = inbox0.received[0]
        assert isinstance(message, TransactionsMessage)
        assert sender.node_id == "node1" and sender.is_validator
        assert node0.dropped == 0
        assert node0.peer("node1").wait_for_state(ConnectionState.READY, DEADLINE_S)
        status = node0.peer("node1").status()
        assert status.chain_id == chain_id and status.height == 0
    finally:
        node0.stop()
        node1.stop()
    assert node0.peer("node1").state is ConnectionState.CLOSED


def test_full_node_certificate_identifies_a_non_validator(network: Network) -> None:
    inbox = Inbox()
    server, port = _start_server(network, inbox)
    try:
        connection = PeerConnection(PeerAddress("node1", HostPort(LOOPBACK, port)),
                                    network.tls["node2"], chain_id=network.genesis.chain_id)
        connection.start()
        connection.send(_vote(network, "node0"))  # a full node relays a validator's vote
        assert inbox.wait_for(1)
        connection.close()
    finally:
        server.stop()
    sender, _ = inbox.received[0]
    assert sender.node_id == "node2" and not sender.is_validator


def test_listening_on_a_port_in_use_fails_with_listen_failed(network: Network) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((LOOPBACK, 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = PeerServer(chain_id=network.genesis.chain_id, tls=network.tls["node1"],
                            inbox=Inbox())
        with pytest.raises(ListenFailed):
            server.start(HostPort(LOOPBACK, port))


def test_peer_transport_is_the_consensus_transport_seam(network: Network) -> None:
    transport: ConsensusTransport = PeerTransport(
        chain_id=network.genesis.chain_id, tls=network.tls["node0"],
        listen=HostPort(LOOPBACK, 0), peers=[], inbox=Inbox())  # checked by mypy
    transport.broadcast(_vote(network))  # no peers: nothing to do, nothing raised


def test_transport_from_config_checks_the_certificate(network: Network) -> None:
    path = network.root / "node1" / "config.toml"
    config = load_node_config(path)
    transport = PeerTransport.from_config(config, network.genesis, Inbox())
    assert transport.identity.node_id == "node1"
    assert set(transport.peers) == {"node0", "node2"}
    renamed = parse_node_config(path.read_text().replace('node_id = "node1"',
                                                         'node_id = "node9"'), path)
    with pytest.raises(tls.TlsError, match="certificate is for node 'node1'"):
        PeerTransport.from_config(renamed, network.genesis, Inbox())
    other_ca = dataclasses.replace(network.genesis, ca_fingerprint=bytes(32))
    with pytest.raises(tls.TlsError, match="does not match genesis"):
        PeerTransport.from_config(config, other_ca, Inbox())


# ---- who may connect ----------------------------------------------------------------------------


def _foreign_credentials(network: Network) -> grpc.ChannelCredentials:
    """A well-formed node certificate (same node id and key) from a CA that is NOT the network's."""
    rogue = tls.create_network_ca("rogue CA")
    certificate = tls.issue_node_certificate(rogue, "node0", network.keys["node0"].public_key)
    return grpc.ssl_channel_credentials(
        root_certificates=network.tls["node0"].ca_pem,
        private_key=certificate.private_key_pem, certificate_chain=certificate.certificate_pem)


def test_client_certificate_from_another_ca_is_refused(network: Network) -> None:
    inbox = Inbox()
    server, port = _start_server(network, inbox)
    try:
        with _channel(_foreign_credentials(network), port) as channel:
            code, _ = _code_of(lambda: _raw_stream(
                channel, "Consensus", [encode_consensus(_vote(network)).SerializeToString()]))
        assert code is grpc.StatusCode.UNAVAILABLE
        with _channel(network.tls["node0"].channel_credentials(), port) as channel:
            assert _status_call(channel, network.genesis.chain_id).height == 7
    finally:
        server.stop()
    assert inbox.received == []


def test_client_without_a_certificate_is_refused(network: Network) -> None:
    inbox = Inbox()
    server, port = _start_server(network, inbox)
    credentials = grpc.ssl_channel_credentials(root_certificates=network.tls["node0"].ca_pem)
    try:
        with _channel(credentials, port) as channel:
            code, _ = _code_of(lambda: _status_call(channel, network.genesis.chain_id))
    finally:
        server.stop()
    assert code is grpc.StatusCode.UNAVAILABLE


def test_client_refuses_a_server_that_is_not_the_node_it_dialled(network: Network) -> None:
    server, port = _start_server(network, Inbox(), node_id="node1")
    clock = RecordingClock()
    impostor = PeerConnection(PeerAddress("node2", HostPort(LOOPBACK, port)),
                              network.tls["node0"], chain_id=network.genesis.chain_id,
                              clock=clock)
    impostor.start()
    try:
        assert clock.wait_for_waits(1)  # the handshake failed and the backoff began
    finally:
        impostor.close()
        server.stop()
    assert impostor.connections_made == 0
    assert isinstance(impostor.last_error, PeerUnavailable)


def test_ca_signed_certificate_without_identity_is_unauthenticated(network: Network) -> None:
    credentials = anonymous_credentials(network.root, network.tls["node0"].ca_pem)
    server, port = _start_server(network, Inbox())
    try:
        with _channel(credentials, port) as channel:
            code, details = _code_of(lambda: _status_call(channel, network.genesis.chain_id))
    finally:
        server.stop()
    assert code is grpc.StatusCode.UNAUTHENTICATED
    assert "identity" in details


# ---- bad messages and limits ---------------------------------------------------------


def test_oversized_message_is_refused_and_the_server_keeps_serving(network: Network) -> None:
    limits = TransportLimits(message_bytes_max=64 * 1024)
    inbox = Inbox()
    server, port = _start_server(network, inbox, limits=limits)
    try:
        with _channel(network.tls["node0"].channel_credentials(), port) as channel:
            oversized = services_pb2.TransactionBatch(txs=[types_pb2.SignedTransaction(
                signature=b"\x00" * (100 * 1024))]).SerializeToString()
            code, _ = _code_of(lambda: _raw_stream(channel, "GossipTransactions", [oversized]))
            assert code is grpc.StatusCode.RESOURCE_EXHAUSTED  # grpc's size limit, before parsing
            assert _status_call(channel, network.genesis.chain_id).height == 7
            _raw_stream(channel, "Consensus", [encode_consensus(_vote(network))
                                               .SerializeToString()])
    finally:
        server.stop()
    assert inbox.wait_for(1)


def test_malformed_protobuf_bytes_are_invalid_argument(network: Network) -> None:
    inbox = Inbox()
    server, port = _start_server(network, inbox)
    garbage = b"\x0a\xff\xff\xff"  # field 1, length-delimited, length running past the end
    try:
        with _channel(network.tls["node0"].channel_credentials(), port) as channel:
            code, details = _code_of(lambda: _raw_call(channel, "PeerStatus")(garbage))
            assert code is grpc.StatusCode.INVALID_ARGUMENT
            assert "PeerStatusRequest" in details
            code, _ = _code_of(lambda: _raw_stream(channel, "Consensus", [garbage]))
            assert code is grpc.StatusCode.INVALID_ARGUMENT
            code, _ = _code_of(lambda: _raw_stream(channel, "GossipTransactions", [garbage]))
            assert code is grpc.StatusCode.INVALID_ARGUMENT
            assert _status_call(channel, network.genesis.chain_id).height == 7
    finally:
        server.stop()
    assert inbox.received == []


def test_well_formed_protobuf_breaking_type_rules_names_the_field(network: Network) -> None:
    inbox = Inbox()
    server, port = _start_server(network, inbox)
    wire = encode_consensus(_vote(network))
    wire.vote.signature = b"short"
    try:
        with _channel(network.tls["node0"].channel_credentials(), port) as channel:
            code, details = _code_of(lambda: _raw_stream(
                channel, "Consensus", [wire.SerializeToString()]))
            assert code is grpc.StatusCode.INVALID_ARGUMENT
            assert "signature" in details
            code, details = _code_of(lambda: _status_call(channel, "another-chain"))
            assert code is grpc.StatusCode.FAILED_PRECONDITION
            request = services_pb2.BlockRangeRequest(from_height=0).SerializeToString()
            sync = channel.unary_stream(f"/{PEER_SERVICE}/SyncBlocks", request_serializer=None,
                                        response_deserializer=None)
            code, _ = _code_of(lambda: list(sync(request, timeout=DEADLINE_S)))
            assert code is grpc.StatusCode.OUT_OF_RANGE
            empty = services_pb2.BlockRangeRequest(from_height=1).SerializeToString()
            assert list(sync(empty, timeout=DEADLINE_S)) == []
    finally:
        server.stop()
    assert inbox.received == []


def test_rate_limit_gives_resource_exhausted(network: Network) -> None:
    limits = TransportLimits(messages_per_second=1.0, messages_burst=3)
    server, port = _start_server(network, Inbox(), limits=limits, clock=StillClock())
    try:
        with _channel(network.tls["node0"].channel_credentials(), port) as channel:
            for _ in range(3):
                assert _status_call(channel, network.genesis.chain_id).height == 7
            code, details = _code_of(lambda: _status_call(channel, network.genesis.chain_id))
            assert code is grpc.StatusCode.RESOURCE_EXHAUSTED and "rate limit" in details
        with _channel(network.tls["node2"].channel_credentials(), port) as channel:
            # The bucket is per peer: another peer is not affected.
            assert _status_call(channel, network.genesis.chain_id).height == 7
    finally:
        server.stop()


def test_concurrent_calls_per_peer_are_bounded(network: Network) -> None:
    gate = threading.Event()
    inbox = Inbox(gate=gate)
    limits = TransportLimits(peer_concurrent_rpcs_max=1)
    server, port = _start_server(network, inbox, limits=limits)
    try:
        with _channel(network.tls["node0"].channel_credentials(), port) as channel:
            stream = channel.stream_unary(f"/{PEER_SERVICE}/Consensus", request_serializer=None,
                                          response_deserializer=None)
            held = stream.future(iter([encode_consensus(_vote(network)).SerializeToString()]),
                                 timeout=DEADLINE_S)
            assert inbox.entered.wait(DEADLINE_S)  # the first call is inside the inbox
            code, details = _code_of(lambda: _status_call(channel, network.genesis.chain_id))
            assert code is grpc.StatusCode.RESOURCE_EXHAUSTED and "calls open" in details
            gate.set()
            held.result(timeout=DEADLINE_S)
            assert _status_call(channel, network.genesis.chain_id).height == 7
    finally:
        gate.set()
        server.stop()


# ---- reconnect ---------------------------------------------------------------------


def _deliver_with_retries(connection: PeerConnection, message: PeerMessage,
                          inbox: Inbox) -> bool:
    """Send until ``inbox`` receives one message (delivery is at most once), or give up."""
    deadline = threading.Event()
    timer = threading.Timer(DEADLINE_S, deadline.set)
    timer.start()
    try:
        while not deadline.is_set():
            connection.send(message)
            with inbox._condition:
                if inbox._condition.wait_for(lambda: bool(inbox.received), 0.2):
                    return True
        return False
    finally:
        timer.cancel()


def test_peer_reconnects_after_the_server_restarts_on_the_same_port(network: Network) -> None:
    first_inbox = Inbox()
    server, port = _start_server(network, first_inbox)
    connection = PeerConnection(
        PeerAddress("node1", HostPort(LOOPBACK, port)), network.tls["node0"],
        chain_id=network.genesis.chain_id,
        backoff=Backoff(initial_s=0.05, max_s=0.5, jitter_fraction=0.0))
    connection.start()
    second: PeerServer | None = None
    try:
        assert _deliver_with_retries(connection, _vote(network, height=1), first_inbox)
        server.stop()
        second_inbox = Inbox()
        second, _ = _start_server(network, second_inbox, port=port)
        assert _deliver_with_retries(connection, _vote(network, height=2), second_inbox)
        assert connection.connections_made >= 2
        sender, message = second_inbox.received[0]
        assert sender.node_id == "node0"
        assert isinstance(message, VoteMessage) and message.vote.height == 2
    finally:
        connection.close()
        if second is not None:
            second.stop()


def test_status_of_an_unconnected_peer_is_peer_unavailable(network: Network) -> None:
    connection = PeerConnection(PeerAddress("node1", HostPort(LOOPBACK, 1)),
                                network.tls["node0"], chain_id=network.genesis.chain_id)
    with pytest.raises(PeerUnavailable, match="not connected"):
        connection.status()


class RecordingClock:
    """Real monotonic time that never passes during a backoff: waits are recorded, not slept."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._changed = threading.Condition()

    def monotonic(self) -> float:
        return 0.0

    def wait(self, event: threading.Event, seconds: float) -> bool:
        with self._changed:
            self.waits.append(seconds)
            self._changed.notify_all()
        return event.is_set()

    def wait_for_waits(self, count: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.waits) >= count, DEADLINE_S)


def test_peer_that_drops_every_connection_is_retried_ever_more_slowly(
        network: Network) -> None:
    # One call at a time: the handshake succeeds, then the second stream is refused.
    server, port = _start_server(network, Inbox(),
                                 limits=TransportLimits(peer_concurrent_rpcs_max=1))
    clock = RecordingClock()
    connection = PeerConnection(
        PeerAddress("node1", HostPort(LOOPBACK, port)), network.tls["node0"],
        chain_id=network.genesis.chain_id, clock=clock,
        backoff=Backoff(initial_s=1.0, multiplier=2.0, max_s=60.0, jitter_fraction=0.0))
    connection.start()
    try:
        assert clock.wait_for_waits(3)
    finally:
        connection.close()
        server.stop()
    assert clock.waits[:3] == [1.0, 2.0, 4.0]
    assert connection.connections_made >= 3
    assert isinstance(connection.last_error, RateLimited)


def _block(chain_id: str, height: int, proposer: bytes) -> Block:
    header = BlockHeader(chain_id, height, 1_795_000_000_000 + height, bytes(32), bytes(32),
                         bytes(32), bytes(32), bytes(32), bytes(32), bytes(32), proposer)
    return Block(header, (), None)


def _commit(block: Block, key: PrivateKey) -> Commit:
    return Commit(block.height, 0, block.hash,
                  (CommitSignature(key.address, key.sign(block.hash * 2)),))


def test_proposal_with_block_crosses_and_block_sync_serves_ranges(network: Network) -> None:
    chain_id = network.genesis.chain_id
    key = network.keys["node1"]
    chain = {height: _block(chain_id, height, key.address) for height in range(1, 6)}
    requested: list[tuple[int, int]] = []

    def blocks(first: int, last: int) -> list[tuple[Block, Commit]]:
        requested.append((first, last))
        return [(chain[height], _commit(chain[height], key))
                for height in range(first, min(last, 5) + 1)]

    inbox = Inbox()
    server = PeerServer(chain_id=chain_id, tls=network.tls["node1"], inbox=inbox,
                        blocks=blocks, limits=TransportLimits(sync_blocks_per_request_max=2))
    port = server.start(HostPort(LOOPBACK, 0))
    connection = PeerConnection(PeerAddress("node1", HostPort(LOOPBACK, port)),
                                network.tls["node0"], chain_id=chain_id)
    connection.start()
    try:
        proposal_block = chain[3]
        proposal = sign_proposal(network.keys["node0"], chain_id, 3, 0, None, proposal_block.hash)
        connection.send(ProposalMessage(proposal, proposal_block))
        assert inbox.wait_for(1)
        assert inbox.received[0][1] == ProposalMessage(proposal, proposal_block)
        assert connection.wait_for_state(ConnectionState.READY, DEADLINE_S)
        synced = list(connection.sync_blocks(2, 0))
        assert [block.height for block, _ in synced] == [2, 3]  # capped at 2 per call
        assert all(commit.block_hash == block.hash for block, commit in synced)
        assert [block.height for block, _ in connection.sync_blocks(4, 9)] == [4, 5]
        assert requested == [(2, 3), (4, 5)]
    finally:
        connection.close()
        server.stop()
