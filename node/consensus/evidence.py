"""The evidence pool: equivocations seen, deduplicated, until a committed block includes them.

Guarantees:
- One equivocation slot (validator, height, round, vote type) is kept once,
  however many conflicting votes arrive for it: the first pair seen.
- ``pending(limit)`` lists evidence not yet in a committed block, oldest
  first, for the next proposal; ``mark_committed`` removes what a committed
  block carried. ``all_recorded`` keeps everything ever seen.

Determinism: insertion-ordered dicts; the order follows message arrival.
"""

from __future__ import annotations

from collections.abc import Iterable

from zonechain.node.types.evidence import DuplicateVoteEvidence
from zonechain.node.types.limits import BLOCK_EVIDENCE_MAX
from zonechain.node.types.vote import VoteType

_Slot = tuple[bytes, int, int, VoteType]


def _slot(evidence: DuplicateVoteEvidence) -> _Slot:
    vote = evidence.vote_a
    return (vote.validator, vote.height, vote.round, vote.type)


class EvidencePool:
    """Duplicate-vote evidence: pending (for proposals) and everything recorded."""

    def __init__(self) -> None:
        self._recorded: dict[_Slot, DuplicateVoteEvidence] = {}
        self._pending: dict[_Slot, DuplicateVoteEvidence] = {}
        self._committed: dict[bytes, None] = {}

    def add(self, evidence: DuplicateVoteEvidence) -> bool:
        """Keep ``evidence``; False if its slot was already recorded."""
        slot = _slot(evidence)
        if slot in self._recorded:
            return False
        self._recorded[slot] = evidence
        if evidence.hash not in self._committed:
            self._pending[slot] = evidence
        return True

    def pending(self, limit: int = BLOCK_EVIDENCE_MAX) -> tuple[DuplicateVoteEvidence, ...]:
        return tuple(list(self._pending.values())[:limit])

    def mark_committed(self, evidence: Iterable[DuplicateVoteEvidence]) -> None:
        for item in evidence:
            self._committed[item.hash] = None
            self._recorded.setdefault(_slot(item), item)
            self._pending.pop(_slot(item), None)

    def all_recorded(self) -> tuple[DuplicateVoteEvidence, ...]:
        return tuple(self._recorded.values())

    def offenders(self) -> list[bytes]:
        """Addresses of every validator with recorded evidence, sorted."""
        return sorted({slot[0] for slot in self._recorded})
