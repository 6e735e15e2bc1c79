"""The transport's time seam: a Clock it is given, and the reconnect backoff.

Tests inject a fake Clock whose ``wait`` returns at once and records the
delay, so backoff is checked without sleeping; production uses SystemClock.
The transport never reads wall-clock time: only monotonic time, for rate
limits and backoff, neither of which feeds state.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from zonechain.node.p2p.limits import (
    BACKOFF_INITIAL_S,
    BACKOFF_JITTER_FRACTION,
    BACKOFF_MAX_S,
    BACKOFF_MULTIPLIER,
)


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""
        ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait until ``event`` is set or ``seconds`` pass; True if the event is set."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(seconds)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential reconnect delays: ``initial * multiplier**(attempt-1)``, capped, jittered."""

    initial_s: float = BACKOFF_INITIAL_S
    multiplier: float = BACKOFF_MULTIPLIER
    max_s: float = BACKOFF_MAX_S
    jitter_fraction: float = BACKOFF_JITTER_FRACTION
    random_fraction: Callable[[], float] = field(default=random.random)

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.multiplier < 1 or self.max_s < self.initial_s:
            raise ValueError("Backoff needs initial_s > 0, multiplier >= 1, max_s >= initial_s")
        if not 0 <= self.jitter_fraction < 1:
            raise ValueError("Backoff.jitter_fraction must be in [0, 1)")

    def delay_s(self, attempt: int) -> float:
        """The delay before reconnect attempt ``attempt`` (1 = after the first failure)."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        exponent = min(attempt - 1, 64)  # beyond this the cap applies anyway
        base = min(self.max_s, self.initial_s * self.multiplier**exponent)
        return base * (1 - self.jitter_fraction * self.random_fraction())


class TokenBucket:
    """A thread-safe token bucket: ``rate`` tokens per second up to ``capacity``."""

    __slots__ = ("_capacity", "_clock", "_lock", "_rate", "_tokens", "_updated")

    def __init__(self, rate: float, capacity: int, clock: Clock) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("TokenBucket needs rate > 0 and capacity >= 1")
        self._rate = rate
        self._capacity = float(capacity)
        self._clock = clock
        self._tokens = float(capacity)
        self._updated = clock.monotonic()
        self._lock = threading.Lock()

    def take(self, tokens: int = 1) -> bool:
        """Spend ``tokens`` if the bucket holds them; False (nothing spent) otherwise."""
        with self._lock:
            now = self._clock.monotonic()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._updated = now
            if self._tokens < tokens:
                return False
            self._tokens -= tokens
            return True
