"""Percentiles and summaries of latency samples.

``percentile`` is the nearest-rank definition: the smallest sample such that
at least ``p`` percent of the samples are at or below it. It always returns
one of the samples (never an interpolation), is monotone in ``p``, and
``percentile(samples, 100)`` is the maximum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PERCENTILES = (50.0, 95.0, 99.0)
"""The percentiles every report gives, besides the maximum."""


class EmptySamples(ValueError):
    """A percentile of no samples was asked for."""


def percentile(samples: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ``samples``."""
    if not 0.0 < p <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    if not samples:
        raise EmptySamples("no samples")
    ordered = sorted(samples)
    rank = math.ceil(p / 100.0 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class Summary:
    """Count, mean, p50/p95/p99 and max of a set of samples (same unit as the samples)."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary | None:
        """The summary, or None for no samples."""
        if not samples:
            return None
        p50, p95, p99 = (percentile(samples, p) for p in PERCENTILES)
        return cls(len(samples), sum(samples) / len(samples), p50, p95, p99, max(samples))

    def as_dict(self) -> dict[str, float]:
        return {"count": self.count, "mean": self.mean, "p50": self.p50, "p95": self.p95,
                "p99": self.p99, "max": self.max}
