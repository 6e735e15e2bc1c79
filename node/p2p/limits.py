"""Every limit of the peer transport, each with its reason (TigerBeetle: limit everything).

``TransportLimits`` carries them into a transport so that tests can shrink
them; the defaults are the named constants below, which production uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from zonechain.node.types.limits import BLOCK_BYTES_MAX

PEER_MESSAGE_BYTES_MAX: Final = BLOCK_BYTES_MAX + 1024 * 1024
"""One gRPC message: a maximal block (a proposal, or one block of block sync)
plus room for its protobuf framing and its commit certificate (~22 KiB for
256 validators). Passed to grpc as max_receive_message_length and
max_send_message_length on both ends; grpc answers RESOURCE_EXHAUSTED above it."""

PEER_MESSAGES_PER_SECOND: Final = 2_000
"""Token-bucket refill rate per peer, all methods together. An honest validator
sends about three consensus messages per round (a proposal, two votes) and
transactions in batches, so honest traffic is orders of magnitude below this;
it is also below what one stream delivers (~4.5k votes/s measured, both ends
in one process), so a flooding peer is cut off before it saturates us."""

PEER_MESSAGES_BURST: Final = 4_000
"""Token-bucket capacity per peer: absorbs a catching-up burst of two seconds."""

PEER_CONCURRENT_RPCS_MAX: Final = 8
"""RPCs one peer may have open at once: its consensus stream, its gossip
stream, a status call and a block sync, twice over for a reconnect that
overlaps the old connection's teardown. More is refused with RESOURCE_EXHAUSTED."""

SERVER_CONCURRENT_RPCS_MAX: Final = 128
"""All peers together (grpc maximum_concurrent_rpcs; excess gets
RESOURCE_EXHAUSTED). shared/MEASURED.md: 5,000 RPCs in flight came back
CANCELLED, so the bound is explicit. The server runs one thread per RPC, so
this is also its thread-pool size; a network of n peers needs about 2n."""

SEND_QUEUE_MESSAGES_MAX: Final = 1_024
"""Messages waiting per peer and stream. When full, the OLDEST is dropped:
consensus and gossip both value the newest information, and consensus
recovers lost messages by its round timeouts."""

SYNC_BLOCKS_PER_REQUEST_MAX: Final = 256
"""Blocks one SyncBlocks call returns at most, so that one call stays bounded;
the client asks again from where the answer stopped."""

CONNECT_TIMEOUT_S: Final = 5.0
"""How long one connection attempt (TCP + TLS handshake) may take."""

BACKOFF_INITIAL_S: Final = 0.1
BACKOFF_MULTIPLIER: Final = 2.0
BACKOFF_MAX_S: Final = 10.0
"""Reconnect delays: 0.1 s doubling to at most 10 s, so a restarted peer is
found again within seconds while a dead one costs one attempt per 10 s."""

BACKOFF_JITTER_FRACTION: Final = 0.2
"""Each delay is shortened by up to 20 %, so that peers do not reconnect in lockstep."""

KEEPALIVE_TIME_MS: Final = 10_000
KEEPALIVE_TIMEOUT_MS: Final = 5_000
"""HTTP/2 pings on idle connections find a dead peer within ~15 s even when
no message is being sent."""


@dataclass(frozen=True, slots=True)
class TransportLimits:
    message_bytes_max: int = PEER_MESSAGE_BYTES_MAX
    messages_per_second: float = PEER_MESSAGES_PER_SECOND
    messages_burst: int = PEER_MESSAGES_BURST
    peer_concurrent_rpcs_max: int = PEER_CONCURRENT_RPCS_MAX
    server_concurrent_rpcs_max: int = SERVER_CONCURRENT_RPCS_MAX
    send_queue_messages_max: int = SEND_QUEUE_MESSAGES_MAX
    sync_blocks_per_request_max: int = SYNC_BLOCKS_PER_REQUEST_MAX
    connect_timeout_s: float = CONNECT_TIMEOUT_S

    def __post_init__(self) -> None:
        for name in TransportLimits.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise ValueError(f"TransportLimits.{name} must be positive")

    def grpc_options(self) -> list[tuple[str, int]]:
        """Channel and server options that enforce the message size and keepalive."""
        return [
            ("grpc.max_receive_message_length", self.message_bytes_max),
            ("grpc.max_send_message_length", self.message_bytes_max),
            ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
            ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ]
