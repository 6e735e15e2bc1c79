"""One node's whole peer transport: the Peer server plus a connection to every peer.

This is what the consensus ``Transport`` seam, transaction gossip and block
sync sit on (the wiring is done by the node process):

    transport = PeerTransport.from_config(config, genesis, inbox)
    transport.start()                       # listen + dial every configured peer
    transport.broadcast(VoteMessage(vote))  # queue for every peer; never blocks
                                            # (this is consensus's Transport seam)
    transport.send("node2", message)        # one peer
    transport.peer("node2").status()        # request/response calls
    transport.stop()

Guarantees: ``broadcast`` and ``send`` never block and never raise for a
slow or absent peer (bounded queues drop the oldest message; see peer.py).
Received messages reach ``inbox(sender_identity, message)`` already decoded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from zonechain.node.config import Genesis, HostPort, NodeConfig, PeerAddress
from zonechain.node.p2p.clock import Backoff, Clock
from zonechain.node.p2p.credentials import TlsMaterial, load_tls_material
from zonechain.node.p2p.errors import PeerUnavailable
from zonechain.node.p2p.limits import TransportLimits
from zonechain.node.p2p.messages import Inbox, PeerMessage
from zonechain.node.p2p.peer import PeerConnection, encode_message
from zonechain.node.p2p.server import (
    BlockSource,
    ConsensusSenders,
    PeerServer,
    StatusProvider,
)
from zonechain.node.tls import TlsError


class PeerTransport:
    """The server and the outgoing connections of one node."""

    def __init__(self, *, chain_id: str, tls: TlsMaterial, listen: HostPort,
                 peers: Sequence[PeerAddress], inbox: Inbox,
                 status: StatusProvider | None = None, blocks: BlockSource | None = None,
                 limits: TransportLimits | None = None, clock: Clock | None = None,
                 backoff: Backoff | None = None,
                 consensus_senders: ConsensusSenders | None = None) -> None:
        self.identity = tls.identity
        self._listen = listen
        self._server = PeerServer(chain_id=chain_id, tls=tls, inbox=inbox, status=status,
                                  blocks=blocks, limits=limits, clock=clock,
                                  consensus_senders=consensus_senders)
        self._tls = tls
        self._chain_id = chain_id
        self._limits = limits
        self._clock = clock
        self._backoff = backoff
        self._peers: dict[str, PeerConnection] = {}
        self.port: int | None = None
        for peer in peers:
            if peer.node_id != self.identity.node_id:
                self.add_peer(peer)

    @classmethod
    def from_config(cls, config: NodeConfig, genesis: Genesis, inbox: Inbox,
                    status: StatusProvider | None = None,
                    blocks: BlockSource | None = None,
                    consensus_senders: ConsensusSenders | None = None) -> PeerTransport:
        """The transport a node's config.toml describes; TlsError if its TLS files are wrong."""
        tls = load_tls_material(config.paths.tls_certificate, config.paths.tls_key,
                                config.paths.tls_ca, genesis.ca_fingerprint)
        if tls.identity.node_id != config.node_id:
            raise TlsError(f"{config.paths.tls_certificate}: certificate is for node "
                           f"{tls.identity.node_id!r}, config says {config.node_id!r}")
        limits = TransportLimits(send_queue_messages_max=config.p2p.send_queue_messages_max)
        return cls(chain_id=genesis.chain_id, tls=tls, listen=config.p2p.listen,
                   peers=config.p2p.peers, inbox=inbox, status=status, blocks=blocks,
                   limits=limits, consensus_senders=consensus_senders)

    @property
    def peers(self) -> Mapping[str, PeerConnection]:
        return MappingProxyType(self._peers)

    def peer(self, node_id: str) -> PeerConnection:
        connection = self._peers.get(node_id)
        if connection is None:
            raise PeerUnavailable(f"peer {node_id}: not one of this node's peers")
        return connection

    def add_peer(self, peer: PeerAddress) -> PeerConnection:
        """Dial ``peer`` too (at once if the transport is started); ValueError if known."""
        if peer.node_id in self._peers or peer.node_id == self.identity.node_id:
            raise ValueError(f"peer {peer.node_id} is already known (or is this node)")
        connection = PeerConnection(peer, self._tls, chain_id=self._chain_id,
                                    limits=self._limits, clock=self._clock,
                                    backoff=self._backoff)
        self._peers[peer.node_id] = connection
        if self.port is not None:
            connection.start()
        return connection

    def start(self) -> int:
        """Listen, then dial every peer; returns the bound p2p port."""
        self.port = self._server.start(self._listen)
        for connection in self._peers.values():
            connection.start()
        return self.port

    def broadcast(self, message: PeerMessage) -> None:
        """Queue ``message`` for every peer (the consensus Transport seam).

        Never blocks; a full queue drops its oldest message (``dropped``).
        """
        if not self._peers:
            return
        encoded = encode_message(message)  # once, not once per peer: blocks are large
        for connection in self._peers.values():
            connection.send_encoded(*encoded)

    @property
    def consensus_refused(self) -> int:
        """Consensus messages dropped because their sender is not a current validator."""
        return self._server.consensus_refused

    @property
    def dropped(self) -> int:
        """Messages dropped so far because a peer's send queue was full."""
        return sum(connection.dropped for connection in self._peers.values())

    def send(self, node_id: str, message: PeerMessage) -> bool:
        """Queue ``message`` for one peer; False if an older message was dropped."""
        return self.peer(node_id).send(message)

    def stop(self) -> None:
        for connection in self._peers.values():
            connection.close()
        self._server.stop()
