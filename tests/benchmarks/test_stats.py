"""Nearest-rank percentiles and summaries (benchmarks/bench/stats.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.benchmarks.bench.stats import EmptySamples, Summary, percentile


def test_nearest_rank_on_one_to_hundred() -> None:
    samples = [float(value) for value in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 95) == 95.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    assert percentile(samples, 0.5) == 1.0


def test_small_sets_round_up_to_a_sample() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 51) == 3.0
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("p", [0.0, -1.0, 100.5, math.nan])
def test_out_of_range_percentile_is_refused(p: float) -> None:
    with pytest.raises(ValueError, match="percentile must be in"):
        percentile([1.0], p)


def test_no_samples() -> None:
    with pytest.raises(EmptySamples):
        percentile([], 50)
    assert Summary.of([]) is None


def test_summary_fields() -> None:
    summary = Summary.of([4.0, 1.0, 3.0, 2.0])
    assert summary is not None
    assert summary.as_dict() == {"count": 4, "mean": 2.5, "p50": 2.0, "p95": 4.0, "p99": 4.0,
                                 "max": 4.0}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50),
       st.floats(0.01, 100.0), st.floats(0.01, 100.0))
def test_percentile_is_a_sample_monotone_and_covers_p(samples: list[float], p: float,
                                                      q: float) -> None:
    low, high = sorted((p, q))
    value = percentile(samples, low)
    assert value in samples
    assert value <= percentile(samples, high)
    at_or_below = sum(1 for sample in samples if sample <= value)
    strictly_below = sum(1 for sample in samples if sample < value)
    assert at_or_below >= low / 100 * len(samples) - 1e-9
    assert strictly_below < low / 100 * len(samples) + 1e-9
    assert percentile(samples, 100) == max(samples)
