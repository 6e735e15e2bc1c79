"""Validator sets that change with height, and proposer rotation carried across the changes.

``ValidatorSchedule(validators_at)`` wraps the node's provider seam
``validators_at(height) -> ValidatorSet`` (in a node: governance's record,
``zonechain.node.permissions.hooks.consensus_validators_at``; a change
executed at height H is in force from H + VALIDATOR_CHANGE_DELAY).

Guarantees:
- ``validators_at(height)`` is the provider's set for ``height``: the set that
  counts votes, verifies proposals and certificates, and whose hash is the
  header's ``validator_set_hash`` at that height.
- ``proposer(height, round)`` is CometBFT's proposer-priority rotation with
  the priorities carried from height to height, also across set changes:
    * at ``initial_height`` every priority is 0;
    * round r of height h is the (r+1)-th weighted round-robin step from the
      priorities at the start of h (``validators.advance_priorities``:
      each priority grows by its power, the highest proposes, ties to the
      lowest address, and pays back the total power); failed rounds do not
      change the priorities that the next height starts from;
    * from h to h+1 the priorities take one step (round 0 of h); then, if
      the set of h+1 differs from that of h (by hash), ``carry_priorities``:
      a removed validator's priority is dropped, a kept one keeps its
      priority (whatever its new power), a new one starts at
      ``-(total + total // 8)`` of the new total (CometBFT's -1.125 P: a
      newcomer proposes only after the validators already waiting, so
      leaving and re-joining cannot be used to jump the queue); if the
      spread (max - min) exceeds 2 * total, every priority is divided by
      ``ceil(spread / (2 * total))`` (floor division); finally the mean
      (floor) is subtracted, so the priorities sum to about zero again.
  With a set that never changes, this is exactly ``ValidatorSet.proposer``
  (the same steps from all-zero priorities), so the proposer sequence of a
  static chain is unchanged.
- The priorities at height h depend only on the sets of heights
  ``initial_height .. h``: every node computes the same proposers.

Cost: the priorities of height h are reached by stepping from
``initial_height`` (O(n) per height, one provider call per height) the
first time; a node walks forward one height at a time afterwards.
Checkpoints every CHECKPOINT_INTERVAL heights make an earlier height cost at
most that many steps.

Determinism: integers only (floor division for rescaling and centring); the
priorities are lists in address order; nothing reads a clock or randomness.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import Final

from zonechain.node.consensus.errors import InvalidValidatorSet
from zonechain.node.consensus.validators import (
    Validator,
    ValidatorSet,
    advance_priorities,
)

ValidatorSetProvider = Callable[[int], ValidatorSet]
"""validators_at(height) -> the set that signs block ``height``."""

PRIORITY_SPREAD_MAX_FACTOR: Final = 2
"""After a set change the priorities' spread is at most this many times the
total power (CometBFT's bound): a validator with a hoarded priority cannot
propose for long stretches once the set around it changed."""

NEWCOMER_PRIORITY_DIVISOR: Final = 8
"""A new validator starts at -(total + total // 8): behind everyone (CometBFT -1.125 P)."""

CHECKPOINT_INTERVAL: Final = 1000
"""The priorities are kept every this many heights (n ints each) so a query
for an earlier height replays at most this many steps."""

ROUND_MEMO_MAX: Final = 10_001
"""Proposers memoised per height: the core ignores rounds beyond ~10,000 ahead
(state_machine.ROUNDS_AHEAD_MAX); further rounds are computed, not kept."""


def newcomer_priority(total_power: int) -> int:
    """The priority a validator starts with when it joins a set of ``total_power``."""
    return -(total_power + total_power // NEWCOMER_PRIORITY_DIVISOR)


def carry_priorities(
    old_set: ValidatorSet, old_priorities: Iterable[int], new_set: ValidatorSet
) -> list[int]:
    """The priorities of ``new_set`` (address order) after a change from ``old_set``."""
    carried = dict(zip((v.address for v in old_set.validators), old_priorities, strict=True))
    joining = newcomer_priority(new_set.total_power)
    priorities = [carried.get(v.address, joining) for v in new_set.validators]
    spread_max = PRIORITY_SPREAD_MAX_FACTOR * new_set.total_power
    spread = max(priorities) - min(priorities)
    if spread > spread_max:
        ratio = -(-spread // spread_max)  # ceil
        priorities = [p // ratio for p in priorities]
    mean = sum(priorities) // len(priorities)
    return [p - mean for p in priorities]


def changes_provider(changes: Iterable[tuple[int, ValidatorSet]]) -> ValidatorSetProvider:
    """A provider from (effective height, set) records: the last set effective at or
    before the height, as ``permissions.store.validator_set_at`` reads them."""
    records = sorted(changes, key=lambda record: record[0])
    heights = [height for height, _ in records]
    if not records or len(set(heights)) != len(heights):
        raise InvalidValidatorSet("validator set changes need distinct heights, at least one")

    def validators_at(height: int) -> ValidatorSet:
        index = bisect_right(heights, height) - 1
        if index < 0:
            raise InvalidValidatorSet(f"no validator set is in force at height {height}")
        return records[index][1]

    return validators_at


class ValidatorSchedule:
    """The validator set of each height and its proposers (see the module docstring)."""

    def __init__(self, validators_at: ValidatorSetProvider, *, initial_height: int = 1) -> None:
        if initial_height < 1:
            raise InvalidValidatorSet("initial_height must be at least 1")
        self.initial_height = initial_height
        self._provider = validators_at
        first = self.validators_at(initial_height)
        self._checkpoints: dict[int, tuple[ValidatorSet, tuple[int, ...]]] = {
            initial_height: (first, (0,) * len(first))
        }
        self._height = initial_height
        self._set = first
        self._priorities = [0] * len(first)
        self._rounds_state = [0] * len(first)
        self._rounds: list[int] = []

    @classmethod
    def from_changes(
        cls, changes: Iterable[tuple[int, ValidatorSet]], *, initial_height: int = 1
    ) -> ValidatorSchedule:
        """A schedule from (effective height, set) records (tests, simulation, tools)."""
        return cls(changes_provider(changes), initial_height=initial_height)

    def validators_at(self, height: int) -> ValidatorSet:
        """The set that signs block ``height`` (the provider's answer, checked)."""
        if height < self.initial_height:
            raise InvalidValidatorSet(f"no validator set before height {self.initial_height}")
        found = self._provider(height)
        if not isinstance(found, ValidatorSet):
            raise InvalidValidatorSet(f"the provider returned {type(found).__name__} "
                                      f"for height {height}, not a ValidatorSet")
        return found

    def proposer(self, height: int, round: int) -> Validator:
        """The proposer of ``round`` at ``height``."""
        if round < 0:
            raise ValueError(f"no proposer for height {height}, round {round}")
        self._move_to(height)
        if round >= ROUND_MEMO_MAX:
            state = list(self._priorities)
            chosen = 0
            for _ in range(round + 1):
                chosen = advance_priorities(self._set.validators, self._set.total_power, state)
            return self._set.validators[chosen]
        while len(self._rounds) <= round:
            self._rounds.append(advance_priorities(
                self._set.validators, self._set.total_power, self._rounds_state))
        return self._set.validators[self._rounds[round]]

    def priorities_at(self, height: int) -> tuple[tuple[bytes, int], ...]:
        """(address, priority) at the start of ``height``, in address order (inspection)."""
        self._move_to(height)
        return tuple(zip((v.address for v in self._set.validators), self._priorities,
                         strict=True))

    def _move_to(self, height: int) -> None:
        if height < self.initial_height:
            raise ValueError(f"no proposer before height {self.initial_height}")
        if height == self._height:
            return
        if height < self._height:
            start = max(h for h in self._checkpoints if h <= height)
            self._set, saved = self._checkpoints[start]
            self._height, self._priorities = start, list(saved)
        while self._height < height:
            self._step_height()
        self._rounds_state = list(self._priorities)
        self._rounds = []

    def _step_height(self) -> None:
        """From the start of ``_height`` to the start of the next height."""
        current = self._set
        advance_priorities(current.validators, current.total_power, self._priorities)
        following = self.validators_at(self._height + 1)
        if following is not current and following.hash != current.hash:
            self._priorities = carry_priorities(current, self._priorities, following)
        self._height += 1
        self._set = following
        if (self._height - self.initial_height) % CHECKPOINT_INTERVAL == 0:
            self._checkpoints[self._height] = (following, tuple(self._priorities))
