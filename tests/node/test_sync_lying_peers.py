"""Block sync against peers that lie about their height (node/sync.py): a claim
counts only while the peer is not benched, a peer that claims blocks it does not
serve is benched for SYNC_PEER_BENCH_S, and peers are asked in a rotating order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.node.test_node import CHAIN_ID, VALIDATORS, FakePeer, certified_chain
from zonechain.node.consensus.validators import Validator, ValidatorSet
from zonechain.node.crypto import PrivateKey
from zonechain.node.permissions.actions import VALIDATOR_CHANGE_DELAY
from zonechain.node.sync import ONE_AHEAD_GRACE_S, SYNC_PEER_BENCH_S, BlockSync
from zonechain.node.types.block import Block
from zonechain.node.types.commit import Commit
from zonechain.proto import services_pb2

CLAIMED = 1_000_000


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Block, Commit]]:
    return certified_chain(tmp_path_factory.mktemp("lying") / "db")


class BoastingPeer(FakePeer):
    """Serves its real blocks but claims a far greater height."""

    def status(self, timeout_s: float = 5.0) -> services_pb2.PeerStatusResponse:
        return services_pb2.PeerStatusResponse(chain_id=CHAIN_ID, height=CLAIMED)


class SilentPeer(FakePeer):
    """Claims a great height and serves nothing."""

    def status(self, timeout_s: float = 5.0) -> services_pb2.PeerStatusResponse:
        return services_pb2.PeerStatusResponse(chain_id=CHAIN_ID, height=CLAIMED)

    def sync_blocks(self, from_height: int, to_height: int = 0,
                    timeout_s: float = 60.0) -> Iterator[tuple[Block, Commit]]:
        self.asked.append((from_height, to_height))
        return iter(())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _sync(peers: dict[str, FakePeer], delivered: list[Block], clock: Clock,
          events: list[tuple[str, dict[str, object]]]) -> BlockSync:
    return BlockSync(
        chain_id=CHAIN_ID, peers=lambda: peers, local_height=lambda: len(delivered),
        validators_at=lambda height: VALIDATORS,
        deliver=lambda block, commit: delivered.append(block),
        wait_height=lambda height, timeout_s: len(delivered) >= height,
        on_event=lambda event, fields: events.append((event, fields)), clock=clock,
        one_ahead_grace_s=0.0)  # these tests are about lies; the grace has its own test


def test_a_silent_liar_is_benched_and_not_believed(chain: list[tuple[Block, Commit]]) -> None:
    peers: dict[str, FakePeer] = {"a-silent": SilentPeer(chain), "b-honest": FakePeer(chain)}
    delivered: list[Block] = []
    clock = Clock()
    events: list[tuple[str, dict[str, object]]] = []
    sync = _sync(peers, delivered, clock, events)
    assert sync.sync_once() == 3  # the liar is asked first, serves nothing, the next peer does
    assert [block.hash for block in delivered] == [block.hash for block, _ in chain]
    assert sync.benched() == ["a-silent"]
    assert ("sync_peer_failed", "a-silent") in [(e, f.get("peer")) for e, f in events]
    assert sync.best_peer_height == len(chain)  # the lie does not count
    assert not sync.catching_up
    assert sync.sync_once() == 0
    assert peers["a-silent"].asked == [(1, 64)]  # benched: not asked again
    # After the bench period it is asked (and believed) again, until it fails again.
    clock.now += SYNC_PEER_BENCH_S + 1
    assert sync.benched() == []
    assert sync.sync_once() == 0
    assert peers["a-silent"].asked == [(1, 64), (4, 67)]
    assert sync.benched() == ["a-silent"] and not sync.catching_up


def test_a_boasting_peer_counts_only_while_it_delivers(chain: list[tuple[Block, Commit]]) -> None:
    peers: dict[str, FakePeer] = {"a-boaster": BoastingPeer(chain)}
    delivered: list[Block] = []
    clock = Clock()
    sync = _sync(peers, delivered, clock, [])
    assert sync.sync_once() == 3  # its real blocks verify: taken
    assert sync.catching_up  # it still claims more and has not failed yet
    assert sync.sync_once() == 0  # nothing beyond its real height: benched
    assert sync.benched() == ["a-boaster"]
    assert sync.best_peer_height == 0 and not sync.catching_up


def test_peers_are_asked_in_rotating_order(chain: list[tuple[Block, Commit]]) -> None:
    peers: dict[str, FakePeer] = {name: FakePeer(chain[:1]) for name in ("a", "b", "c")}
    delivered: list[Block] = []
    sync = _sync(peers, delivered, Clock(), [])
    asked_first = []
    for _ in range(3):
        delivered.clear()
        for peer in peers.values():
            peer.asked.clear()
        assert sync.sync_once() == 1
        asked_first.append(next(name for name, peer in peers.items() if peer.asked))
    assert asked_first == ["a", "b", "c"]


def test_unreachable_peers_claims_are_forgotten(chain: list[tuple[Block, Commit]]) -> None:
    peer = FakePeer(chain)
    peers: dict[str, FakePeer] = {"a": peer}
    delivered: list[Block] = [chain[0][0], chain[1][0], chain[2][0]]
    sync = _sync(peers, delivered, Clock(), [])
    sync.sync_once()
    assert sync.best_peer_height == 3
    peer.up = False
    sync.sync_once()
    assert sync.best_peer_height == 0


def test_a_certificate_beyond_the_known_validator_sets_ends_the_batch_without_blame(
        chain: list[tuple[Block, Commit]]) -> None:
    # The set of a height is known only up to local + VALIDATOR_CHANGE_DELAY; beyond it
    # this node's guess (here: strangers) may be wrong because blocks it has not applied
    # yet change the set. An honest peer must not be benched for that.
    strangers = ValidatorSet(Validator(PrivateKey.from_seed(bytes([60 + i]) * 32).public_key, 1)
                             for i in range(4))
    peers: dict[str, FakePeer] = {"a-honest": FakePeer(chain)}
    queued: list[Block] = []  # handed over, not yet applied (as on a node)
    applied: list[Block] = []
    events: list[tuple[str, dict[str, object]]] = []

    def apply(height: int, timeout_s: float) -> bool:
        applied.extend(queued)
        queued.clear()
        return len(applied) >= height

    sync = BlockSync(
        chain_id=CHAIN_ID, peers=lambda: peers, local_height=lambda: len(applied),
        validators_at=lambda height: VALIDATORS
        if height <= len(applied) + VALIDATOR_CHANGE_DELAY else strangers,
        deliver=lambda block, commit: queued.append(block), wait_height=apply,
        on_event=lambda event, fields: events.append((event, fields)), clock=Clock(),
        one_ahead_grace_s=0.0)
    assert sync.sync_once() == VALIDATOR_CHANGE_DELAY  # block 3 waits for the set to be known
    assert sync.benched() == [] and sync.best_peer_height == len(chain)
    assert sync.sync_once() == 1
    assert [block.hash for block in applied] == [block.hash for block, _ in chain]
    assert "sync_peer_failed" not in [event for event, _ in events]


def test_a_bad_certificate_within_the_known_sets_still_benches(
        chain: list[tuple[Block, Commit]]) -> None:
    strangers = ValidatorSet(Validator(PrivateKey.from_seed(bytes([70 + i]) * 32).public_key, 1)
                             for i in range(4))
    peers: dict[str, FakePeer] = {"a-peer": FakePeer(chain)}
    delivered: list[Block] = []
    sync = BlockSync(
        chain_id=CHAIN_ID, peers=lambda: peers, local_height=lambda: len(delivered),
        validators_at=lambda height: strangers if height == 2 else VALIDATORS,
        deliver=lambda block, commit: delivered.append(block),
        wait_height=lambda height, timeout_s: len(delivered) >= height,
        on_event=lambda event, fields: None, clock=Clock())
    assert sync.sync_once() == 0  # block 1 was delivered, then block 2 failed: benched
    assert len(delivered) == 1 and sync.benched() == ["a-peer"]


def test_a_peer_one_height_ahead_is_fetched_from_only_once_the_height_is_stuck(
        chain: list[tuple[Block, Commit]]) -> None:
    peer = FakePeer(chain[:2])
    delivered: list[Block] = [chain[0][0]]
    clock = Clock()
    committed_at = [clock.now]  # the local height last moved now, as a node records it

    def deliver(block: Block, commit: Commit) -> None:
        delivered.append(block)
        committed_at[0] = clock.now

    sync = BlockSync(
        chain_id=CHAIN_ID, peers=lambda: {"a": peer}, local_height=lambda: len(delivered),
        validators_at=lambda height: VALIDATORS, deliver=deliver,
        wait_height=lambda height, timeout_s: len(delivered) >= height,
        on_event=lambda event, fields: None, clock=clock,
        last_progress=lambda: committed_at[0])
    assert sync.sync_once() == 0  # one ahead: our own consensus normally applies it
    clock.now += ONE_AHEAD_GRACE_S / 2
    assert sync.sync_once() == 0 and peer.asked == []
    clock.now += ONE_AHEAD_GRACE_S / 2
    assert sync.sync_once() == 1  # the height did not move for the grace: fetched
    assert [block.hash for block in delivered] == [block.hash for block, _ in chain[:2]]
    peer.pairs = chain[:3]
    assert sync.sync_once() == 0  # a new height: a new grace


def test_a_peer_two_heights_ahead_is_fetched_from_at_once(
        chain: list[tuple[Block, Commit]]) -> None:
    peer = FakePeer(chain)
    delivered: list[Block] = []
    sync = BlockSync(
        chain_id=CHAIN_ID, peers=lambda: {"a": peer}, local_height=lambda: len(delivered),
        validators_at=lambda height: VALIDATORS,
        deliver=lambda block, commit: delivered.append(block),
        wait_height=lambda height, timeout_s: len(delivered) >= height,
        on_event=lambda event, fields: None, clock=Clock())
    assert sync.sync_once() == len(chain)


def test_the_one_ahead_grace_counts_from_the_last_commit(
        chain: list[tuple[Block, Commit]]) -> None:
    peer = FakePeer(chain[:2])
    delivered: list[Block] = [chain[0][0]]
    clock = Clock()
    committed_at = clock.now - ONE_AHEAD_GRACE_S  # the last commit was a grace ago
    sync = BlockSync(
        chain_id=CHAIN_ID, peers=lambda: {"a": peer}, local_height=lambda: len(delivered),
        validators_at=lambda height: VALIDATORS,
        deliver=lambda block, commit: delivered.append(block),
        wait_height=lambda height, timeout_s: len(delivered) >= height,
        on_event=lambda event, fields: None, clock=clock, last_progress=lambda: committed_at)
    assert sync.sync_once() == 1  # stuck since the commit, not since this first pass
