"""Equivocation evidence: the pool of what was seen, the index of what was committed, the age rule.

Guarantees:
- One equivocation slot (validator, height, round, vote type) is kept once,
  however many conflicting votes arrive for it: the first pair seen.
- ``pending(limit, height)`` lists evidence not yet in a committed block,
  oldest first, for the proposal of block ``height``; it leaves out (and
  forgets) items too old for that block (``evidence_expired``) and items the
  ``committed`` filter names (the ledger's ``CommittedEvidence``: a slot
  already punished in a block, also one committed before a restart).
  ``mark_committed`` removes what a committed block carried. ``all_recorded``
  keeps everything ever seen.
- ``CommittedEvidence`` indexes the slots of the evidence in committed
  blocks whose age still allows them in a new block. It is derived from the
  committed blocks only (``load`` scans the last ``EVIDENCE_MAX_AGE_HEIGHTS``
  + 1 blocks at open; ``record`` adds each block as it commits), so every
  node holds the same index and a restart rebuilds it exactly; no store
  schema is involved.

The age rule (``EVIDENCE_MAX_AGE_HEIGHTS``): evidence of height e is valid
in block b only while ``b <= e + EVIDENCE_MAX_AGE_HEIGHTS``. Heights, not
time: block heights are what every node agrees on without a clock, and a
chain that is halted (a partition, an upgrade) makes no blocks, so evidence
cannot age out while nobody can include it (CometBFT needs both a block and
a duration limit to be exceeded for the same reason). Evidence reaches the
pool only inside votes of the current or previous height, so it is never
old on arrival; the rule bounds what a Byzantine proposer can dig up and
how far back the committed index must reach.

Determinism: insertion-ordered dicts; the pool's order follows message
arrival; the index is a pure function of the committed blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from zonechain.node.types.block import Block, BlockHeader, evidence_root
from zonechain.node.types.evidence import DuplicateVoteEvidence
from zonechain.node.types.limits import BLOCK_EVIDENCE_MAX
from zonechain.node.types.vote import VoteType
from zonechain.vm.encoding import Reader

EVIDENCE_MAX_AGE_HEIGHTS: Final = 1_000
"""Evidence of height e may appear in blocks up to e + 1,000. An honest
proposer includes an equivocation in its next proposal, and at least one
honest proposer comes round within the n heights of a proposer rotation
(n <= 256 validators), so 1,000 heights is ample; it keeps the committed
index (and the scan that rebuilds it at open) to at most 1,001 blocks."""

EVIDENCE_EXPIRED: Final = "evidence_expired"
"""InvalidBlock code: an evidence item older than EVIDENCE_MAX_AGE_HEIGHTS."""

EVIDENCE_COMMITTED: Final = "evidence_committed"
"""InvalidBlock code: an equivocation (its slot) already in a committed block."""

_NO_EVIDENCE_ROOT: Final = evidence_root(())

EvidenceSlot = tuple[bytes, int, int, VoteType]
"""(validator, height, round, vote type): one equivocation, however many vote pairs show it."""


def evidence_slot(evidence: DuplicateVoteEvidence) -> EvidenceSlot:
    vote = evidence.vote_a
    return (vote.validator, vote.height, vote.round, vote.type)


def evidence_expired(evidence_height: int, block_height: int) -> bool:
    """Whether evidence of ``evidence_height`` is too old for block ``block_height``."""
    return block_height > evidence_height + EVIDENCE_MAX_AGE_HEIGHTS


class CommittedEvidence:
    """Slots of committed evidence still young enough to be included again (see module)."""

    def __init__(self) -> None:
        self._slots: dict[EvidenceSlot, int] = {}  # slot -> height of the block holding it

    @classmethod
    def load(cls, load_block: Callable[[int], bytes | None], tip_height: int) -> CommittedEvidence:
        """The index after the committed blocks up to ``tip_height``.

        Reads blocks ``tip_height - EVIDENCE_MAX_AGE_HEIGHTS`` .. ``tip_height``
        (a block c can only hold evidence of height >= c - MAX, which expires
        for every block after c + MAX); only blocks whose header shows evidence
        are decoded whole."""
        index = cls()
        for height in range(max(1, tip_height - EVIDENCE_MAX_AGE_HEIGHTS), tip_height + 1):
            raw = load_block(height)
            if raw is None:
                continue
            if BlockHeader.read(Reader(raw)).evidence_root == _NO_EVIDENCE_ROOT:
                continue
            index.record(Block.decode(raw))
        index.forget_expired(tip_height + 1)
        return index

    def committed_at(self, evidence: DuplicateVoteEvidence) -> int | None:
        """The height of the committed block that holds this equivocation, if any."""
        return self._slots.get(evidence_slot(evidence))

    def holds(self, evidence: DuplicateVoteEvidence) -> bool:
        return evidence_slot(evidence) in self._slots

    def record(self, block: Block) -> None:
        """Add committed ``block``'s evidence; forget slots no later block may hold."""
        for item in block.evidence:
            self._slots.setdefault(evidence_slot(item), block.height)
        self.forget_expired(block.height + 1)

    def forget_expired(self, next_height: int) -> None:
        """Drop slots too old for block ``next_height``: the age rule refuses them anyway."""
        if self._slots:
            expired = [slot for slot in self._slots if evidence_expired(slot[1], next_height)]
            for slot in expired:
                del self._slots[slot]

    def __len__(self) -> int:
        return len(self._slots)


class EvidencePool:
    """Duplicate-vote evidence: pending (for proposals) and everything recorded."""

    def __init__(self, committed: Callable[[DuplicateVoteEvidence], bool] | None = None) -> None:
        self._recorded: dict[EvidenceSlot, DuplicateVoteEvidence] = {}
        self._pending: dict[EvidenceSlot, DuplicateVoteEvidence] = {}
        self._committed: dict[EvidenceSlot, None] = {}
        self._is_committed = committed

    def add(self, evidence: DuplicateVoteEvidence) -> bool:
        """Keep ``evidence``; False if its slot was already recorded."""
        slot = evidence_slot(evidence)
        if slot in self._recorded:
            return False
        self._recorded[slot] = evidence
        if slot not in self._committed and not self._committed_elsewhere(evidence):
            self._pending[slot] = evidence
        return True

    def pending(self, limit: int = BLOCK_EVIDENCE_MAX,
                height: int | None = None) -> tuple[DuplicateVoteEvidence, ...]:
        """Up to ``limit`` items for the proposal of block ``height`` (None: no age check);
        expired and already-committed items are dropped from the pool for good."""
        stale = [slot for slot, item in self._pending.items()
                 if (height is not None and evidence_expired(item.height, height))
                 or self._committed_elsewhere(item)]
        for slot in stale:
            del self._pending[slot]
        return tuple(list(self._pending.values())[:limit])

    def mark_committed(self, evidence: Iterable[DuplicateVoteEvidence]) -> None:
        for item in evidence:
            slot = evidence_slot(item)
            self._committed[slot] = None
            self._recorded.setdefault(slot, item)
            self._pending.pop(slot, None)

    def all_recorded(self) -> tuple[DuplicateVoteEvidence, ...]:
        return tuple(self._recorded.values())

    def offenders(self) -> list[bytes]:
        """Addresses of every validator with recorded evidence, sorted."""
        return sorted({slot[0] for slot in self._recorded})

    def _committed_elsewhere(self, evidence: DuplicateVoteEvidence) -> bool:
        return self._is_committed is not None and self._is_committed(evidence)
