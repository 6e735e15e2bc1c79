"""Validator sets: quorum arithmetic, proposer rotation by power, the set hash, bad input."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.consensus import InvalidValidatorSet, Validator, ValidatorSet
from zonechain.node.consensus.timeouts import Step, TimeoutConfig
from zonechain.node.crypto import PrivateKey

KEYS = [PrivateKey.from_seed(bytes([index + 40]) * 32) for index in range(8)]


def _set(powers: list[int]) -> ValidatorSet:
    return ValidatorSet(Validator(key.public_key, power) for key, power in zip(KEYS, powers,
                                                                              strict=False))


def test_quorum_is_more_than_two_thirds_and_one_honest_more_than_a_third() -> None:
    four = _set([1, 1, 1, 1])
    assert [four.has_quorum(p) for p in range(5)] == [False, False, False, True, True]
    assert [four.has_one_honest(p) for p in range(5)] == [False, False, True, True, True]
    weighted = _set([3, 1, 1, 1])  # total 6: quorum needs 5, a third is 2
    assert not weighted.has_quorum(4) and weighted.has_quorum(5)
    assert not weighted.has_one_honest(2) and weighted.has_one_honest(3)


@settings(max_examples=40)
@given(st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=8))
def test_each_validator_proposes_in_proportion_to_its_power(powers: list[int]) -> None:
    validators = _set(powers)
    period = validators.total_power
    counts = Counter(validators.proposer(1, round).address for round in range(2 * period))
    assert counts == {v.address: 2 * v.power for v in validators.validators}
    # The rotation is one sequence over height + round: the next height's round r is
    # this height's round r + 1.
    assert all(validators.proposer(2, r) == validators.proposer(1, r + 1) for r in range(period))


def test_rotation_is_smooth_not_bunched() -> None:
    validators = _set([3, 1, 1])
    heavy = max(validators.validators, key=lambda v: v.power)
    sequence = [validators.proposer(1, r).address == heavy.address for r in range(5)]
    assert sequence.count(True) == 3
    assert sequence != [True, True, True, False, False]  # interleaved, as CometBFT's priority
    assert not any(a and b and c for a, b, c in zip(sequence, sequence[1:], sequence[2:],
                                                    strict=False))


def test_the_hash_commits_to_keys_and_powers() -> None:
    assert _set([1, 1, 1]).hash == _set([1, 1, 1]).hash
    assert _set([1, 1, 1]).hash != _set([1, 1, 2]).hash
    assert _set([1, 1, 1]).hash != _set([1, 1, 1, 1]).hash


def test_bad_sets_are_refused() -> None:
    key = KEYS[0].public_key
    with pytest.raises(InvalidValidatorSet):
        ValidatorSet([])
    with pytest.raises(InvalidValidatorSet):
        ValidatorSet([Validator(key, 1), Validator(key, 2)])
    for power in (0, -1, True, 1 << 40):
        with pytest.raises(InvalidValidatorSet):
            Validator(key, power)
    with pytest.raises(InvalidValidatorSet):
        Validator(b"short", 1)


def test_timeout_durations_grow_per_round() -> None:
    config = TimeoutConfig(propose_base_ms=100, propose_increment_ms=10)
    durations = [config.duration_ms(Step.PROPOSE, r) for r in range(5)]
    assert durations == [100, 110, 120, 130, 140]
    assert config.duration_ms(Step.PREVOTE, 2) > config.duration_ms(Step.PREVOTE, 1)
    with pytest.raises(ValueError):
        TimeoutConfig(prevote_base_ms=0)
