"""Committed evidence is indexed and evidence ages out (node/consensus/evidence.py):
a block that carries an equivocation a committed block already holds, or evidence
older than EVIDENCE_MAX_AGE_HEIGHTS, is invalid with its own code; the pool drops
both; the index is rebuilt from the committed blocks after a restart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.node.fixtures.chain import GENESIS_TIME_MS, key, make_genesis
from zonechain.node.consensus import evidence as evidence_module
from zonechain.node.consensus.evidence import (
    EVIDENCE_COMMITTED,
    EVIDENCE_EXPIRED,
    EVIDENCE_MAX_AGE_HEIGHTS,
    CommittedEvidence,
    EvidencePool,
    evidence_expired,
)
from zonechain.node.crypto import sign_vote
from zonechain.node.executor import InvalidBlock
from zonechain.node.ledger import INVALID_EVIDENCE, Ledger
from zonechain.node.types.block import Block
from zonechain.node.types.evidence import DuplicateVoteEvidence
from zonechain.node.types.vote import VoteType

PROPOSER = key(99)
OFFENDER = key(7)
SMALL_AGE = 3
"""A shrunk EVIDENCE_MAX_AGE_HEIGHTS, so that ageing out needs only a few blocks."""


def _keys(address: bytes, height: int) -> bytes | None:
    return OFFENDER.public_key if address == OFFENDER.address else None


def _equivocation(height: int, first: int = 1, second: int = 2) -> DuplicateVoteEvidence:
    chain_id = make_genesis().chain_id
    votes = [sign_vote(OFFENDER, VoteType.PREVOTE, chain_id, height, 0, bytes([b]) * 32)
             for b in (first, second)]
    return DuplicateVoteEvidence.from_votes(votes[0], votes[1])


def _open(path: Path) -> Ledger:
    return Ledger.open(path, make_genesis(), evidence_keys=_keys)


def _block(ledger: Ledger, evidence: Sequence[DuplicateVoteEvidence] = ()) -> Block:
    time_ms = GENESIS_TIME_MS + 1_000 * (ledger.height + 1)
    return ledger.propose_block([], time_ms, PROPOSER, evidence=evidence)


def _advance(ledger: Ledger, blocks: int) -> None:
    for _ in range(blocks):
        ledger.apply_block(_block(ledger))


def _refusal(ledger: Ledger, evidence: DuplicateVoteEvidence) -> str:
    with pytest.raises(InvalidBlock) as caught:
        ledger.check_block(_block(ledger, [evidence]))
    return caught.value.code


def test_age_rule_is_inclusive_at_the_limit() -> None:
    assert not evidence_expired(10, 10 + EVIDENCE_MAX_AGE_HEIGHTS)
    assert evidence_expired(10, 11 + EVIDENCE_MAX_AGE_HEIGHTS)


def test_a_block_re_including_committed_evidence_is_invalid(tmp_path: Path) -> None:
    with _open(tmp_path / "db") as ledger:
        _advance(ledger, 1)
        ledger.apply_block(_block(ledger, [_equivocation(1)]))
        assert _refusal(ledger, _equivocation(1)) == EVIDENCE_COMMITTED
        # Another vote pair of the same equivocation (a third conflicting vote) too.
        assert _refusal(ledger, _equivocation(1, 1, 3)) == EVIDENCE_COMMITTED
        fresh = _equivocation(2)  # another slot is still accepted
        ledger.apply_block(_block(ledger, [fresh]))
        assert ledger.committed_evidence.committed_at(fresh) == 3


def test_one_equivocation_twice_in_one_block_is_invalid(tmp_path: Path) -> None:
    with _open(tmp_path / "db") as ledger:
        _advance(ledger, 1)
        pairs = [_equivocation(1), _equivocation(1, 1, 3)]  # two vote pairs, one slot
        with pytest.raises(InvalidBlock, match="included twice") as caught:
            ledger.check_block(_block(ledger, pairs))
        assert caught.value.code == INVALID_EVIDENCE
        ledger.apply_block(_block(ledger, pairs[:1]))  # either alone is fine


def test_too_old_evidence_is_invalid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence_module, "EVIDENCE_MAX_AGE_HEIGHTS", SMALL_AGE)
    with _open(tmp_path / "db") as ledger:
        _advance(ledger, 1 + SMALL_AGE - 1)  # the next block is 1 + SMALL_AGE: still in time
        ledger.check_block(_block(ledger, [_equivocation(1)]))
        _advance(ledger, 1)
        assert _refusal(ledger, _equivocation(1)) == EVIDENCE_EXPIRED


def test_restart_rebuilds_the_same_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence_module, "EVIDENCE_MAX_AGE_HEIGHTS", SMALL_AGE)
    path = tmp_path / "db"
    with _open(path) as ledger:
        _advance(ledger, 2)
        ledger.apply_block(_block(ledger, [_equivocation(2)]))  # block 3
        ledger.apply_block(_block(ledger, [_equivocation(4)]))  # block 4
        live = sorted(map(repr, ledger.committed_evidence._slots.items()))
    with _open(path) as reopened:
        assert sorted(map(repr, reopened.committed_evidence._slots.items())) == live
        assert len(reopened.committed_evidence) == 2
        assert _refusal(reopened, _equivocation(4)) == EVIDENCE_COMMITTED
        _advance(reopened, SMALL_AGE - 1)  # height 2 can no longer be included, 4 can
        assert len(reopened.committed_evidence) == 1
        aged = sorted(map(repr, reopened.committed_evidence._slots.items()))
    with _open(path) as again:
        assert sorted(map(repr, again.committed_evidence._slots.items())) == aged
        assert _refusal(again, _equivocation(2)) == EVIDENCE_EXPIRED


def test_pool_drops_committed_and_expired_evidence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence_module, "EVIDENCE_MAX_AGE_HEIGHTS", SMALL_AGE)
    index = CommittedEvidence()
    pool = EvidencePool(committed=index.holds)
    old, punished, fresh = _equivocation(1), _equivocation(5), _equivocation(6)
    for item in (old, punished, fresh):
        assert pool.add(item)
    assert pool.pending(height=1 + SMALL_AGE) == (old, punished, fresh)
    # A committed block (seen by the ledger, e.g. before a restart) holds ``punished``.
    index._slots[evidence_module.evidence_slot(punished)] = 6
    assert pool.pending(height=2 + SMALL_AGE) == (fresh,)
    assert pool.pending() == (fresh,)  # dropped for good, not just skipped
    assert pool.add(old) is False  # the slot stays recorded: not pending again
    assert len(pool.all_recorded()) == 3
