"""Peer-to-peer transport: gRPC between nodes over mutual TLS.

Modules:
    transport    PeerTransport: server + one PeerConnection per peer, broadcast/send
    server       PeerServer: the Peer service of proto/services.proto, thin handlers
    peer         PeerConnection: reconnect with backoff, bounded drop-oldest queues
    messages     ProposalMessage / VoteMessage / TransactionsMessage and their wire form
    credentials  TlsMaterial: the node's certificate, key and the network CA as grpc credentials
    errors       TransportError tree and the exhaustive grpc.StatusCode mapping
    limits       every limit, named, with its reason
    clock        Clock seam, Backoff, TokenBucket

Peer identity: a peer IS its certificate. ``zonechain init`` makes a network
CA (its fingerprint pinned in genesis) and signs each node's certificate with
a URI subjectAltName ``zonechain://node/<node id>/<validator public key>``.
Mutual TLS proves the peer holds the key of a CA-signed certificate, and the
CA's signature binds that certificate to the node id and validator key, so no
extra hello message is needed. Votes and proposals are still verified with
the validator's ed25519 key by consensus: the transport's identity says who
SENT a message, not who SIGNED it. The server takes proposals and votes only
from senders its ``consensus_senders`` gate accepts (a node: validator keys of
the current and next sets); everyone else is served as a full node and its
consensus messages are dropped and counted (server.py).

Both sides authenticate: the server requires a client certificate chained to
the CA; the client trusts only the CA and requires the server's certificate
to name ``<node id>.node.zonechain`` for the node id it dialled (grpc's
ssl_target_name_override), so a different node answering on that address
fails the handshake.
"""

from __future__ import annotations

from zonechain.node.p2p.credentials import TlsMaterial, load_tls_material
from zonechain.node.p2p.errors import (
    ListenFailed,
    MessageRejected,
    NotAuthorized,
    PeerFault,
    PeerRejected,
    PeerUnavailable,
    RateLimited,
    TransportError,
)
from zonechain.node.p2p.limits import TransportLimits
from zonechain.node.p2p.messages import (
    Inbox,
    PeerMessage,
    ProposalMessage,
    TransactionsMessage,
    VoteMessage,
)
from zonechain.node.p2p.peer import ConnectionState, PeerConnection
from zonechain.node.p2p.server import PeerServer, PeerStatusInfo
from zonechain.node.p2p.transport import PeerTransport

__all__ = [
    "ConnectionState",
    "Inbox",
    "ListenFailed",
    "MessageRejected",
    "NotAuthorized",
    "PeerConnection",
    "PeerFault",
    "PeerMessage",
    "PeerRejected",
    "PeerServer",
    "PeerStatusInfo",
    "PeerTransport",
    "PeerUnavailable",
    "ProposalMessage",
    "RateLimited",
    "TlsMaterial",
    "TransactionsMessage",
    "TransportError",
    "TransportLimits",
    "VoteMessage",
    "load_tls_material",
]
