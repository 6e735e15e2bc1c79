"""Block sync: a node that is behind fetches committed blocks from peers and verifies them.

``BlockSync`` runs one background thread. Every ``interval_s`` (or at once
after ``poke()``, which the node calls when it hears a peer two or more
heights ahead) it asks each connected peer for its height (PeerStatus). When
a peer is ahead, it streams the missing blocks from it (SyncBlocks, at most
``SYNC_BATCH_BLOCKS`` per request); a peer just one height ahead only after
the local height has not moved for ``ONE_AHEAD_GRACE_S`` (this node's own
consensus normally applies that height first). For each block it checks:

- the certificate is for this block (same height, ``commit.block_hash ==
  block.hash``) and the block's own contents are consistent
  (``Block.check_contents``);
- the certificate carries precommits of more than 2/3 of the power of the
  validator set for that height (``consensus.verify_commit``, the same
  function the SDK and consensus use).

Only verified pairs reach ``deliver(block, commit)``: the node hands them to
consensus as ``SyncedBlock`` events on its consensus thread, which verifies
the certificate once more, decides the height, and the ledger executes and
checks the block against the chain before the one synced, durable commit.
A peer that sends a bad block or certificate is skipped for this round (the
next peer is tried); nothing it sent is applied. Only the validator sets up to
the local height + ``VALIDATOR_CHANGE_DELAY`` are known (later ones depend on
blocks not applied yet), so a certificate beyond them that does not verify
ends the batch without blaming the peer; the next pass checks it again.

Peers' heights are claims, and a peer may lie. A peer that claims to be
ahead but serves no verified block (an error, a bad block or certificate,
or an empty answer) is benched for ``SYNC_PEER_BENCH_S``: it is neither
asked nor believed meanwhile, so a liar costs one failed request per bench
period. ``best_peer_height`` (and so ``catching_up``) is the highest height
claimed by a reachable peer that is not benched, recomputed every pass, never
a maximum kept forever: one lie cannot make the node think it is behind for
good. Peers are tried in a rotating order (by node id, starting one further
each pass), so no single peer, slow or lying, is always asked first. After handing a batch
over, the thread waits until the ledger reached its last height (or
``APPLY_WAIT_S`` passed) before it asks for more, so at most one batch is
queued at a time.

Not consensus code: which peer answers and when only changes how fast a node
catches up, never what it commits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Final, Protocol

from zonechain.node.consensus.certificate import verify_commit
from zonechain.node.consensus.errors import InvalidCommit
from zonechain.node.consensus.validators import ValidatorSet
from zonechain.node.p2p.errors import TransportError
from zonechain.node.permissions.actions import VALIDATOR_CHANGE_DELAY
from zonechain.node.types.block import Block
from zonechain.node.types.commit import Commit
from zonechain.node.types.errors import MalformedMessage
from zonechain.proto import services_pb2

SYNC_BATCH_BLOCKS: Final = 64
"""Blocks asked of a peer per request: a few seconds of work to apply, small
enough that a node behind by thousands of blocks shows progress steadily."""

APPLY_WAIT_S: Final = 60.0
"""How long the sync thread waits for consensus to apply a handed-over batch
before polling peers again (applying 64 full blocks takes far less)."""

SYNC_INTERVAL_S: Final = 1.0
"""How often peers' heights are polled when nothing pokes the sync thread."""

ONE_AHEAD_GRACE_S: Final = 2.0
"""How long a peer exactly one height ahead is left alone. Under load the
others often commit a height while this node still executes it; its own
consensus applies that height moments later, and a fetch then only costs the
peer, this node and the network a block that is thrown away (measured on the
4-validator devnet: nearly every such fetch arrived after the commit). If the
local height has not moved for this long, the block is fetched: this node
may have missed the height's precommits, and the others may need its vote.
The time counts from the node's last commit (``last_progress``), so a stuck
node fetches at most this long plus one poll interval after it stopped."""

SYNC_PEER_BENCH_S: Final = 30.0
"""How long a peer that claimed blocks it did not serve (or served bad ones) is
neither asked nor believed: a lying peer costs one failed request per 30 s,
while an honest peer that merely hiccuped is asked again within half a minute
(the other peers serve meanwhile)."""


class SyncError(Exception):
    """A block or certificate from a peer that does not verify."""


class SyncPeer(Protocol):
    """What block sync needs of a peer connection (node/p2p/peer.py ``PeerConnection``)."""

    def status(self, timeout_s: float = ...) -> services_pb2.PeerStatusResponse: ...

    def sync_blocks(self, from_height: int, to_height: int = ...,
                    timeout_s: float = ...) -> Iterator[tuple[Block, Commit]]: ...


def verify_synced(block: Block, commit: Commit, validators: ValidatorSet, chain_id: str) -> None:
    """Raise SyncError unless ``commit`` is a valid certificate of ``block`` for ``validators``."""
    if commit.height != block.height or commit.block_hash != block.hash:
        raise SyncError(f"the certificate of height {commit.height} is not for block "
                        f"{block.height} ({block.hash.hex()})")
    if block.header.chain_id != chain_id:
        raise SyncError(f"block {block.height} is of chain {block.header.chain_id!r}")
    try:
        block.check_contents()
        verify_commit(commit, validators, chain_id)
    except (InvalidCommit, MalformedMessage) as error:
        raise SyncError(f"block {block.height}: {error}") from None


class BlockSync:
    """The sync thread; see the module docstring."""

    def __init__(
        self, *, chain_id: str, peers: Callable[[], Mapping[str, SyncPeer]],
        local_height: Callable[[], int], validators_at: Callable[[int], ValidatorSet],
        deliver: Callable[[Block, Commit], None], wait_height: Callable[[int, float], bool],
        on_event: Callable[[str, dict[str, object]], None],
        interval_s: float = SYNC_INTERVAL_S,
        one_ahead_grace_s: float = ONE_AHEAD_GRACE_S,
        last_progress: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``last_progress``: when the local height last moved, on ``clock``'s scale
        (the node's last commit); without it, when this object was made."""
        self._chain_id = chain_id
        self._peers = peers
        self._local_height = local_height
        self._validators_at = validators_at
        self._deliver = deliver
        self._wait_height = wait_height
        self._on_event = on_event
        self._interval_s = interval_s
        self._one_ahead_grace_s = one_ahead_grace_s
        made = clock()
        self._last_progress = last_progress if last_progress is not None else lambda: made
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._clock = clock
        self._claims: dict[str, int] = {}  # node id -> height it last claimed (not benched)
        self._benched_until: dict[str, float] = {}
        self._passes = 0
        self._best_peer_height = 0
        self.blocks_synced = 0

    @property
    def catching_up(self) -> bool:
        """True while some peer is known to be more than one block ahead of us."""
        return self._best_peer_height > self._local_height() + 1

    @property
    def best_peer_height(self) -> int:
        """The highest height claimed by a reachable peer that is not benched."""
        return self._best_peer_height

    def benched(self) -> list[str]:
        """Peers not asked nor believed right now (they claimed blocks they did not serve)."""
        now = self._clock()
        return sorted(node_id for node_id, until in self._benched_until.items() if until > now)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="block-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def poke(self) -> None:
        """Check peers now (a message from a later height was seen)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._interval_s)
            self._wake.clear()
            if self._stopped.is_set():
                return
            while not self._stopped.is_set() and self.sync_once() > 0:
                pass

    def sync_once(self) -> int:
        """One pass over the peers: fetch and hand over one batch; the blocks handed over."""
        local = self._local_height()
        delivered = 0
        for node_id, peer in self._rotation():
            peer_height = self._claim(node_id, peer)
            if peer_height is None or peer_height <= local or delivered:
                continue
            if peer_height == local + 1 and \
                    self._clock() - self._last_progress() < self._one_ahead_grace_s:
                continue  # our own consensus normally applies that height first
            last = min(peer_height, local + SYNC_BATCH_BLOCKS)
            try:
                delivered = self._fetch(peer, local + 1, last)
            except (TransportError, MalformedMessage, SyncError) as error:
                self._bench(node_id, peer_height, str(error))
                continue
            if not delivered:
                self._bench(node_id, peer_height, "served no block")
                continue
            self.blocks_synced += delivered
            self._on_event("sync_batch", {"peer": node_id, "from": local + 1,
                                          "to": local + delivered, "peer_height": peer_height})
        self._best_peer_height = max(self._claims.values(), default=0)
        if delivered:
            self._wait_height(local + delivered, APPLY_WAIT_S)
        return delivered

    def _rotation(self) -> list[tuple[str, SyncPeer]]:
        """The peers not benched, by node id, starting one further each pass."""
        peers = self._peers()
        for gone in [node_id for node_id in self._claims if node_id not in peers]:
            del self._claims[gone]
        now = self._clock()
        ready = sorted((node_id, peer) for node_id, peer in peers.items()
                       if self._benched_until.get(node_id, 0.0) <= now)
        if not ready:
            return []
        start = self._passes % len(ready)
        self._passes += 1
        return ready[start:] + ready[:start]

    def _claim(self, node_id: str, peer: SyncPeer) -> int | None:
        """The height ``peer`` claims now (remembered), or None if it cannot be asked."""
        try:
            height = peer.status().height
        except TransportError:
            self._claims.pop(node_id, None)
            return None
        self._claims[node_id] = height
        return height

    def _bench(self, node_id: str, claimed: int, reason: str) -> None:
        """Neither ask nor believe ``node_id`` for SYNC_PEER_BENCH_S."""
        self._claims.pop(node_id, None)
        self._benched_until[node_id] = self._clock() + SYNC_PEER_BENCH_S
        self._on_event("sync_peer_failed", {"peer": node_id, "claimed_height": claimed,
                                            "error": reason,
                                            "benched_s": SYNC_PEER_BENCH_S})

    def _fetch(self, peer: SyncPeer, first: int, last: int) -> int:
        """Verify and hand over blocks first..last from ``peer``; how many were handed over.

        The validator set of a height is known from the applied state only up to
        ``first - 1 + VALIDATOR_CHANGE_DELAY``: a later certificate that does not
        verify may be signed by a set that blocks not yet applied install, so it
        ends the batch (the next pass checks it with the set then known) instead
        of failing the peer."""
        expected = first
        known_through = first - 1 + VALIDATOR_CHANGE_DELAY
        for block, commit in peer.sync_blocks(first, last):
            if block.height != expected:
                raise SyncError(f"asked for block {expected}, got {block.height}")
            try:
                verify_synced(block, commit, self._validators_at(block.height), self._chain_id)
            except SyncError:
                if block.height <= known_through:
                    raise
                break
            self._deliver(block, commit)
            expected += 1
            if expected > last or self._stopped.is_set():
                break
        return expected - first
