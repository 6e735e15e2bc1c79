"""ValidatorSchedule: the set of each height, and proposer priorities carried across changes."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.consensus import (
    InvalidValidatorSet,
    Validator,
    ValidatorSchedule,
    ValidatorSet,
    changes_provider,
)
from zonechain.node.consensus import schedule as schedule_module
from zonechain.node.consensus.schedule import carry_priorities, newcomer_priority
from zonechain.node.consensus.validators import advance_priorities
from zonechain.node.crypto import PrivateKey

KEYS = [PrivateKey.from_seed(bytes([index + 40]) * 32) for index in range(8)]


def validator_set(powers: dict[int, int]) -> ValidatorSet:
    """A set of KEYS[index] with the given powers."""
    return ValidatorSet(Validator(KEYS[index].public_key, power)
                        for index, power in sorted(powers.items()))


def address(index: int) -> bytes:
    return KEYS[index].address


@settings(max_examples=25, deadline=None)
@given(powers=st.lists(st.integers(1, 5), min_size=1, max_size=6),
       initial_height=st.integers(1, 5))
def test_a_fixed_set_rotates_exactly_as_the_set_itself(powers: list[int],
                                                       initial_height: int) -> None:
    fixed = ValidatorSet((Validator(KEYS[i].public_key, p) for i, p in enumerate(powers)),
                         initial_height=initial_height)
    schedule = ValidatorSchedule(lambda height: fixed, initial_height=initial_height)
    for height in range(initial_height, initial_height + 25):
        for round in range(4):
            assert schedule.proposer(height, round) == fixed.proposer(height, round)


def test_the_provider_answers_the_set_of_each_height() -> None:
    first, second = validator_set({0: 1, 1: 1, 2: 1}), validator_set({0: 1, 1: 1, 3: 2})
    schedule = ValidatorSchedule.from_changes([(1, first), (5, second)])
    assert [schedule.validators_at(h) is first for h in range(1, 8)] == [
        True, True, True, True, False, False, False]
    assert schedule.validators_at(5) is second


def test_a_newcomer_starts_behind_everyone_and_then_takes_its_turns() -> None:
    first = validator_set({0: 1, 1: 1, 2: 1, 3: 1})
    second = validator_set({0: 1, 1: 1, 2: 1, 3: 1, 4: 1})
    schedule = ValidatorSchedule.from_changes([(1, first), (10, second)])
    priorities = dict(schedule.priorities_at(10))
    assert priorities[address(4)] == min(priorities.values())
    assert newcomer_priority(5) == -5  # -(5 + 5 // 8)
    proposers = [schedule.proposer(h, 0).address for h in range(10, 20)]
    assert address(4) not in proposers[:4]  # behind the four already waiting
    assert address(4) in proposers  # then its turn
    later = Counter(schedule.proposer(h, 0).address for h in range(30, 80))
    assert later == Counter({address(i): 10 for i in range(5)})


def test_a_removed_validator_never_proposes_and_the_others_keep_their_order() -> None:
    first = validator_set({0: 1, 1: 1, 2: 1, 3: 1})
    second = validator_set({0: 1, 1: 1, 2: 1})
    schedule = ValidatorSchedule.from_changes([(1, first), (7, second)])
    stepped = [priority for _, priority in schedule.priorities_at(7 - 1)]
    advance_priorities(first.validators, first.total_power, stepped)  # round 0 of height 6
    before = dict(zip((v.address for v in first.validators), stepped, strict=True))
    after = dict(schedule.priorities_at(7))
    assert address(3) not in after
    assert list(after.values()) == carry_priorities(first, stepped, second)
    # carried, not reset: the kept validators' differences are unchanged
    assert after[address(0)] - after[address(1)] == before[address(0)] - before[address(1)]
    assert after[address(2)] - after[address(1)] == before[address(2)] - before[address(1)]
    assert all(schedule.proposer(h, r).address != address(3)
               for h in range(7, 40) for r in range(3))


def test_carried_priorities_are_centred_and_their_spread_bounded() -> None:
    heavy = validator_set({0: 1000, 1: 1})
    light = validator_set({0: 1, 1: 1, 2: 1})
    old = dict(zip((v.address for v in heavy.validators), [900, -900], strict=True))
    carried = dict(zip((v.address for v in light.validators),
                       carry_priorities(heavy, old.values(), light), strict=True))
    assert max(carried.values()) - min(carried.values()) <= 2 * light.total_power
    assert abs(sum(carried.values())) < len(carried)
    before = {**old, address(2): newcomer_priority(light.total_power)}
    ranked = sorted(before, key=lambda key: before[key])  # rescaling keeps the order
    assert [carried[key] for key in ranked] == sorted(carried.values())
    unchanged = carry_priorities(light, [1, 0, -1], light)
    assert unchanged == [1, 0, -1]


def test_a_power_change_changes_the_share_of_proposals() -> None:
    first = validator_set({0: 1, 1: 1, 2: 1})
    second = validator_set({0: 1, 1: 1, 2: 4})
    schedule = ValidatorSchedule.from_changes([(1, first), (4, second)])
    counts = Counter(schedule.proposer(h, 0).address for h in range(10, 10 + 6 * 10))
    assert counts[address(2)] == 40 and counts[address(0)] == counts[address(1)] == 10


def test_proposers_do_not_depend_on_the_order_of_queries(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schedule_module, "CHECKPOINT_INTERVAL", 50)
    changes = [(1, validator_set({0: 1, 1: 2, 2: 1})),
               (37, validator_set({0: 1, 1: 2, 2: 1, 3: 3})),
               (90, validator_set({1: 2, 2: 1, 3: 3})),
               (170, validator_set({1: 1, 2: 1, 3: 3, 4: 1}))]
    forward = ValidatorSchedule.from_changes(changes)
    expected = {(h, r): forward.proposer(h, r) for h in range(1, 240) for r in (0, 2)}
    scattered = ValidatorSchedule.from_changes(changes)
    for h in (239, 5, 171, 90, 37, 36, 120, 1, 200):
        for r in (0, 2):
            assert scattered.proposer(h, r) == expected[(h, r)]


def test_far_rounds_are_computed_without_memoising_them() -> None:
    fixed = validator_set({0: 1, 1: 2})
    schedule = ValidatorSchedule(lambda height: fixed)
    far = schedule_module.ROUND_MEMO_MAX + 7
    assert schedule.proposer(3, far) == fixed.proposer(3, far)


def test_bad_providers_and_heights_are_refused() -> None:
    fixed = validator_set({0: 1})
    with pytest.raises(InvalidValidatorSet):
        ValidatorSchedule(lambda height: "not a set")  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidValidatorSet):
        ValidatorSchedule(lambda height: fixed, initial_height=0)
    schedule = ValidatorSchedule(lambda height: fixed, initial_height=3)
    with pytest.raises(InvalidValidatorSet):
        schedule.validators_at(2)
    with pytest.raises(ValueError):
        schedule.proposer(2, 0)
    with pytest.raises(ValueError):
        schedule.proposer(3, -1)
    with pytest.raises(InvalidValidatorSet):
        changes_provider([])
    with pytest.raises(InvalidValidatorSet):
        changes_provider([(1, fixed), (1, fixed)])
    with pytest.raises(InvalidValidatorSet):
        changes_provider([(2, fixed)])(1)


@st.composite
def set_histories(draw: st.DrawFn) -> list[tuple[int, ValidatorSet]]:
    """Random changes: heights, members (subsets of KEYS) and powers."""
    count = draw(st.integers(1, 5))
    heights = sorted(draw(st.sets(st.integers(2, 60), min_size=count - 1,
                                  max_size=count - 1)))
    history = []
    for height in [1, *heights]:
        members = draw(st.sets(st.integers(0, len(KEYS) - 1), min_size=1, max_size=5))
        history.append((height, validator_set(
            {index: draw(st.integers(1, 6)) for index in sorted(members)})))
    return history


@settings(max_examples=30, deadline=None)
@given(history=set_histories())
def test_random_histories_keep_proposers_members_and_priorities_bounded(
        history: list[tuple[int, ValidatorSet]]) -> None:
    schedule = ValidatorSchedule.from_changes(history)
    change_heights = {height for height, _ in history}
    for height in range(1, 80):
        members = schedule.validators_at(height)
        for round in (0, 1, 3):
            assert schedule.proposer(height, round).address in members
        if height in change_heights and height > 1:
            priorities = [p for _, p in schedule.priorities_at(height)]
            assert max(priorities) - min(priorities) <= 2 * members.total_power
            assert abs(sum(priorities)) < len(priorities)
    again = ValidatorSchedule.from_changes(reversed(history))  # same records, any order
    for height in (79, 3, 41, 1):
        assert again.proposer(height, 2) == schedule.proposer(height, 2)


@settings(max_examples=20, deadline=None)
@given(history=set_histories())
def test_the_schedule_matches_a_step_by_step_reference(
        history: list[tuple[int, ValidatorSet]]) -> None:
    """The readable rule, recomputed naively from height 1 for every query."""
    provider = changes_provider(history)
    schedule = ValidatorSchedule(provider)
    current, priorities = provider(1), [0] * len(provider(1))
    for height in range(1, 70):
        assert [p for _, p in schedule.priorities_at(height)] == priorities
        state = list(priorities)
        for round in range(3):
            chosen = advance_priorities(current.validators, current.total_power, state)
            assert schedule.proposer(height, round) == current.validators[chosen]
        advance_priorities(current.validators, current.total_power, priorities)
        following = provider(height + 1)
        if following.hash != current.hash:
            priorities = carry_priorities(current, priorities, following)
        current = following
