"""The seeded simulation: agreement, validity, termination and evidence under faults.

A failing run's message names its seed; reproduce it with
``zonechain.node.consensus.simulation.replay(seed)``.
"""

from __future__ import annotations

import pytest

from zonechain.node.consensus import validators as validators_module
from zonechain.node.consensus.simulation import (
    PropertyViolation,
    SimulationConfig,
    check_properties,
    config_for_seed,
    replay,
    simulate,
)

QUICK_SEEDS = range(20)
QUICK_HEIGHTS = 50
SLOW_SEEDS = range(1000, 1250)


@pytest.mark.parametrize("seed", QUICK_SEEDS)
def test_quick_sweep(seed: int) -> None:
    replay(seed, config_for_seed(seed, heights=QUICK_HEIGHTS))


@pytest.mark.slow
def test_large_sweep() -> None:
    failures = []
    for seed in SLOW_SEEDS:
        try:
            replay(seed, config_for_seed(seed, heights=QUICK_HEIGHTS))
        except PropertyViolation as violation:
            failures.append(str(violation))
    assert not failures, "\n".join(failures)


def test_the_sweep_covers_every_kind_of_fault() -> None:
    configs = [config_for_seed(seed) for seed in QUICK_SEEDS]
    assert any(c.byzantine for c in configs) and any(c.crashed for c in configs)
    assert any(c.partition for c in configs) and any(c.drop_per_mille for c in configs)
    assert any(c.powers for c in configs) and any(c.validators == 7 for c in configs)


def test_a_seed_replays_exactly() -> None:
    config = SimulationConfig(validators=4, byzantine=1, heights=15)
    first, second = simulate(7, config), simulate(7, config)
    assert first.digest() == second.digest() and first.events == second.events
    assert simulate(8, config).digest() != first.digest()


def test_byzantine_equivocators_are_caught_and_cannot_split_the_chain() -> None:
    result = replay(3, SimulationConfig(validators=7, byzantine=2, heights=30))
    byzantine = {result.addresses[i] for i in result.byzantine}
    assert set(result.equivocators) == byzantine
    accused = {e.validator for i in result.honest for e in result.evidence[i]}
    assert accused == byzantine
    committed_evidence = [e for block, _ in result.commits[result.honest[0]]
                          for e in block.evidence]
    assert {e.validator for e in committed_evidence} <= byzantine
    assert committed_evidence  # proposers put the evidence into blocks


def test_crashed_validators_restart_from_their_stores_and_catch_up() -> None:
    config = SimulationConfig(validators=7, crashed=2, heights=30, gst_ms=3000)
    result = replay(11, config)
    assert all(len(result.commits[i]) >= 30 for i in result.honest)


def test_real_ed25519_signatures_end_to_end() -> None:
    config = SimulationConfig(validators=4, byzantine=1, heights=6, signatures="ed25519",
                              gst_ms=1000)
    result = replay(5, config)
    assert len(result.commits[result.honest[0]]) >= 6


def test_the_checker_catches_a_broken_quorum(monkeypatch: pytest.MonkeyPatch) -> None:
    """With "more than half" instead of "more than 2/3", two Byzantine validators of
    seven split the honest ones: the properties must fail and name the seed."""
    monkeypatch.setattr(validators_module.ValidatorSet, "has_quorum",
                        lambda self, power: 2 * power > self.total_power)
    messages = []
    for seed in range(6):
        result = simulate(seed, SimulationConfig(validators=7, byzantine=2, heights=20))
        try:
            check_properties(result)
        except PropertyViolation as violation:
            messages.append(str(violation))
    assert messages, "a majority quorum should have let the coalition split the chain"
    assert any("AGREEMENT" in m for m in messages)
    assert all("replay(" in m and m.startswith("seed ") for m in messages)
