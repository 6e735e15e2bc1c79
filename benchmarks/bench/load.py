"""Load shapes: open loop at a target rate, closed loop at the maximum, and what was sent.

Open loop (``OpenLoopSchedule``): send number k (k = 0, 1, ...) is intended at
``start + k / rate``, whatever the system does, so a slow system cannot slow
the offered load down (no coordinated omission). ``due(now)`` says how many
sends are owed at ``now``; the generator sends them and tells the schedule
(``sent``), with the intended and the actual time of each. When the generator
cannot keep up (it was busy, or the workload had nothing ready because its
next steps wait for commits), sends go out late (those found with nothing
ready are counted as ``starved``): ``SendAccounting`` reports the rate ACTUALLY sent, how late
sends were, and ``kept_up`` is False when the achieved rate fell below
``KEEP_UP_RATIO`` of the target. Benchmarks that only report the target rate
hide exactly this failure.

Closed loop (``ClosedLoopWindow``): keep ``window`` transactions in flight
(sent, neither committed nor rejected); the offered load is whatever the
system absorbs.

The clock is a parameter everywhere, so tests drive these with a fake one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from zonechain.benchmarks.bench.stats import Summary

Clock = Callable[[], float]
"""Seconds, monotonic (``time.perf_counter`` in a real run)."""

KEEP_UP_RATIO: Final = 0.95
"""Below 95% of the target rate the report says the generator could not keep up:
5% leaves room for the rounding of the first and last send of a short run."""


ROUNDING_SLACK: Final = 1e-9
"""A send whose due time differs from now by float rounding only is due."""


class LoadError(ValueError):
    """A load shape with impossible parameters."""


@dataclass
class SendAccounting:
    """What the generator actually did against what it was asked to do."""

    target_rate: float | None
    started_s: float
    sent: int = 0
    starved: int = 0
    last_send_s: float | None = None
    lateness_s: list[float] = field(default_factory=list)

    def record(self, intended_s: float | None, actual_s: float) -> None:
        self.sent += 1
        self.last_send_s = actual_s
        if intended_s is not None:
            self.lateness_s.append(max(actual_s - intended_s, 0.0))

    @property
    def achieved_rate(self) -> float:
        """Sends per second over the sending window (first intended send to last send)."""
        if self.sent == 0 or self.last_send_s is None:
            return 0.0
        window = self.last_send_s - self.started_s
        if window <= 0.0:
            return math.inf if self.sent > 1 else 0.0
        # n sends span n - 1 intervals of 1/rate: count intervals, not sends.
        return (self.sent - 1) / window if self.sent > 1 else 0.0

    @property
    def kept_up(self) -> bool:
        if self.target_rate is None:
            return True
        return self.starved == 0 and self.achieved_rate >= KEEP_UP_RATIO * self.target_rate

    def as_dict(self) -> dict[str, object]:
        lateness = Summary.of(self.lateness_s)
        return {
            "target_rate": self.target_rate,
            "achieved_rate": self.achieved_rate,
            "sent": self.sent,
            "starved": self.starved,
            "kept_up": self.kept_up,
            "lateness_s": None if lateness is None else lateness.as_dict(),
        }


class OpenLoopSchedule:
    """Send k is due at ``start + k / rate``; at most ``total`` sends."""

    def __init__(self, rate: float, total: int, clock: Clock) -> None:
        if not rate > 0.0 or math.isinf(rate):
            raise LoadError(f"the target rate must be a positive number, got {rate}")
        if total < 0:
            raise LoadError(f"the number of sends must be >= 0, got {total}")
        self.rate = rate
        self.total = total
        self.clock = clock
        self.start_s = clock()
        self.next_index = 0
        self._starved_index = -1
        self.accounting = SendAccounting(rate, self.start_s)

    def intended_s(self, index: int) -> float:
        return self.start_s + index / self.rate

    def due(self, now_s: float) -> int:
        """How many sends are owed at ``now_s`` (not yet sent or skipped)."""
        if now_s < self.start_s:
            return 0
        owed = math.floor((now_s - self.start_s) * self.rate + ROUNDING_SLACK) + 1
        return max(min(owed, self.total) - self.next_index, 0)

    def sent(self, actual_s: float) -> None:
        """The next due send went out at ``actual_s``."""
        self.accounting.record(self.intended_s(self.next_index), actual_s)
        self.next_index += 1

    def starved(self) -> None:
        """The next due send found nothing ready (its flow waits for a commit).

        The send stays owed, so it goes out late; each send is counted once
        however often it is found starved.
        """
        if self._starved_index != self.next_index:
            self._starved_index = self.next_index
            self.accounting.starved += 1

    @property
    def finished(self) -> bool:
        return self.next_index >= self.total

    def seconds_until_next(self, now_s: float) -> float:
        if self.finished:
            return math.inf
        return max(self.intended_s(self.next_index) - now_s, 0.0)


class ClosedLoopWindow:
    """Keep ``window`` sends in flight, ``total`` sends in all."""

    def __init__(self, window: int, total: int, clock: Clock) -> None:
        if window < 1:
            raise LoadError(f"the closed-loop window must be >= 1, got {window}")
        self.window = window
        self.total = total
        self.clock = clock
        self.next_index = 0
        self.accounting = SendAccounting(None, clock())

    def due(self, in_flight: int) -> int:
        return max(min(self.window - in_flight, self.total - self.next_index), 0)

    def sent(self, actual_s: float) -> None:
        self.accounting.record(None, actual_s)
        self.next_index += 1

    def starved(self) -> None:
        """Nothing ready now: the closed loop just waits for commits (not counted)."""

    @property
    def finished(self) -> bool:
        return self.next_index >= self.total
