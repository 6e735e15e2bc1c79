"""The votes of one height: per round and type, who voted for what, and with how much power.

Guarantees:
- Each validator's power counts once in a (round, type)'s total (its first
  vote) and at most once for any one value. A second vote for a different
  value from the same validator for the same (round, type) is returned as
  ``DuplicateVoteEvidence``, and counts for its own value too (see
  ``HeightVotes.add`` for why that is safe and needed).
- Votes from validators outside the set are refused (``add`` returns
  ``VoteAdded.REFUSED``); signatures are the caller's check.
- Tallies are integers updated on insert, so every threshold query is O(1).

Determinism: dicts keep insertion order; no set is iterated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from zonechain.node.consensus.validators import ValidatorSet
from zonechain.node.types.evidence import DuplicateVoteEvidence
from zonechain.node.types.vote import Vote, VoteType

VALUES_PER_VALIDATOR_MAX: Final = 4
"""Distinct values one validator's votes count for in one (round, type): an
honest validator has one; an equivocator gets a few (see ``add``), and no more,
so a Byzantine validator cannot make a node store unbounded votes."""


class VoteAdded(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REFUSED = "refused"


@dataclass(slots=True)
class RoundVotes:
    """One round's votes of one type."""

    by_validator: dict[bytes, Vote] = field(default_factory=dict)
    """Each validator's first vote: it alone counts in ``total_power``."""
    values_by_validator: dict[bytes, dict[bytes | None, Vote]] = field(default_factory=dict)
    """Every value a validator voted for (equivocators have several), capped."""
    power_by_value: dict[bytes | None, int] = field(default_factory=dict)
    total_power: int = 0


class HeightVotes:
    """All prevotes and precommits received at one height."""

    def __init__(self, height: int, validators: ValidatorSet) -> None:
        self.height = height
        self._validators = validators
        self._rounds: dict[tuple[int, VoteType], RoundVotes] = {}
        self._round_senders: dict[int, dict[bytes, None]] = {}
        self._round_power: dict[int, int] = {}
        self.highest_skip_round = -1
        """The highest round in which more than 1/3 of the power sent something."""

    @property
    def validators(self) -> ValidatorSet:
        """The set of this height: only its members' votes count."""
        return self._validators

    def add(self, vote: Vote) -> tuple[VoteAdded, DuplicateVoteEvidence | None]:
        """Count ``vote`` (already signature-checked); report a conflict as evidence.

        A conflicting vote still counts towards its own value (at most
        VALUES_PER_VALIDATOR_MAX values per validator and slot), as in the
        paper, where "2f+1 messages for v" counts every sender of one: this is
        safe (two values cannot both pass 2/3 without more than f equivocators)
        and it lets every honest validator see a proof-of-lock that a
        Byzantine validator's split votes helped to form.
        """
        member = self._validators.get(vote.validator)
        if member is None or vote.height != self.height:
            return (VoteAdded.REFUSED, None)
        votes = self._rounds.setdefault((vote.round, vote.type), RoundVotes())
        earlier = votes.by_validator.get(vote.validator)
        if earlier is None:
            votes.by_validator[vote.validator] = vote
            votes.total_power += member.power
            self._count(votes, vote, member.power)
            self.note_sender(vote.round, vote.validator)
            return (VoteAdded.NEW, None)
        if earlier.block_hash == vote.block_hash:
            return (VoteAdded.DUPLICATE, None)
        self._count(votes, vote, member.power)
        return (VoteAdded.CONFLICT, DuplicateVoteEvidence.from_votes(earlier, vote))

    @staticmethod
    def _count(votes: RoundVotes, vote: Vote, power: int) -> None:
        values = votes.values_by_validator.setdefault(vote.validator, {})
        if vote.block_hash in values or len(values) >= VALUES_PER_VALIDATOR_MAX:
            return
        values[vote.block_hash] = vote
        votes.power_by_value[vote.block_hash] = votes.power_by_value.get(vote.block_hash, 0) + power

    def note_sender(self, round: int, validator: bytes) -> None:
        """Remember that ``validator`` sent something in ``round`` (Alg.1 line 55)."""
        member = self._validators.get(validator)
        senders = self._round_senders.setdefault(round, {})
        if member is None or validator in senders:
            return
        senders[validator] = None
        power = self._round_power.get(round, 0) + member.power
        self._round_power[round] = power
        if self._validators.has_one_honest(power) and round > self.highest_skip_round:
            self.highest_skip_round = round

    def round_senders_power(self, round: int) -> int:
        return self._round_power.get(round, 0)

    def power_for(self, round: int, vote_type: VoteType, value: bytes | None) -> int:
        votes = self._rounds.get((round, vote_type))
        return 0 if votes is None else votes.power_by_value.get(value, 0)

    def total_power(self, round: int, vote_type: VoteType) -> int:
        votes = self._rounds.get((round, vote_type))
        return 0 if votes is None else votes.total_power

    def quorum_value(self, round: int, vote_type: VoteType) -> tuple[bool, bytes | None]:
        """(True, value) if one value (None: nil) has more than 2/3; else (False, None)."""
        votes = self._rounds.get((round, vote_type))
        if votes is None or not self._validators.has_quorum(votes.total_power):
            return (False, None)
        for value, power in votes.power_by_value.items():
            if self._validators.has_quorum(power):
                return (True, value)
        return (False, None)

    def votes_for(self, round: int, vote_type: VoteType, value: bytes | None) -> list[Vote]:
        """The counted votes for ``value``, in arrival order."""
        votes = self._rounds.get((round, vote_type))
        if votes is None:
            return []
        found = (values.get(value) for values in votes.values_by_validator.values())
        return [vote for vote in found if vote is not None]

    def rounds_with_votes(self, vote_type: VoteType) -> list[int]:
        return sorted(r for (r, t) in self._rounds if t == vote_type)

    def all_votes(self) -> list[Vote]:
        """Every counted vote (conflicting ones included), by round and type."""
        found: list[Vote] = []
        for key in sorted(self._rounds):
            for values in self._rounds[key].values_by_validator.values():
                found.extend(values.values())
        return found

    def own_votes(self, validator: bytes) -> list[Vote]:
        """Every counted vote by ``validator`` at this height, by round then type."""
        found: list[Vote] = []
        for key in sorted(self._rounds):
            vote = self._rounds[key].by_validator.get(validator)
            if vote is not None:
                found.append(vote)
        return found

    def contains(self, vote: Vote) -> bool:
        """Whether exactly this vote (signature included) is already counted."""
        votes = self._rounds.get((vote.round, vote.type))
        if votes is None:
            return False
        return votes.values_by_validator.get(vote.validator, {}).get(vote.block_hash) == vote
