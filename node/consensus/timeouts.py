"""Round steps and the round timeouts, which grow linearly with the round.

Guarantee: ``TimeoutConfig.duration_ms(step, round)`` is
``base_ms + round * increment_ms`` for that step: strictly increasing in
the round whenever the increment is positive (the paper's liveness
argument needs timeouts that eventually exceed the network's delay bound,
Alg.1 "timeoutPropose(round_p)" etc.). Durations are integer
milliseconds; the state machine never reads a clock, it asks its driver to
deliver a ``Timeout`` event after the duration.

Determinism: integer arithmetic only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final


class Step(IntEnum):
    """A round's steps, in order (the order is used by the double-sign guard)."""

    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3


TIMEOUT_MS_MAX: Final = 10 * 60 * 1000
"""No timeout is longer than 10 minutes, however high the round: past that,
the network is partitioned and waiting longer per round buys nothing."""

DEFAULT_PROPOSE_BASE_MS: Final = 3000
"""CometBFT's default timeout_propose: time to build, gossip and check a block."""
DEFAULT_PROPOSE_INCREMENT_MS: Final = 500
DEFAULT_VOTE_BASE_MS: Final = 1000
"""CometBFT's default timeout_prevote / timeout_precommit."""
DEFAULT_VOTE_INCREMENT_MS: Final = 500


@dataclass(frozen=True, slots=True)
class TimeoutConfig:
    """Base and per-round increment of each step's timeout, in milliseconds."""

    propose_base_ms: int = DEFAULT_PROPOSE_BASE_MS
    propose_increment_ms: int = DEFAULT_PROPOSE_INCREMENT_MS
    prevote_base_ms: int = DEFAULT_VOTE_BASE_MS
    prevote_increment_ms: int = DEFAULT_VOTE_INCREMENT_MS
    precommit_base_ms: int = DEFAULT_VOTE_BASE_MS
    precommit_increment_ms: int = DEFAULT_VOTE_INCREMENT_MS

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"timeout {name} must be a non-negative int, got {value!r}")
        if min(self.propose_base_ms, self.prevote_base_ms, self.precommit_base_ms) < 1:
            raise ValueError("timeout bases must be at least 1 ms")

    def duration_ms(self, step: Step, round: int) -> int:
        """How long to wait in ``step`` of ``round`` before giving up on it."""
        if round < 0:
            raise ValueError("round must be non-negative")
        base, increment = {
            Step.PROPOSE: (self.propose_base_ms, self.propose_increment_ms),
            Step.PREVOTE: (self.prevote_base_ms, self.prevote_increment_ms),
            Step.PRECOMMIT: (self.precommit_base_ms, self.precommit_increment_ms),
        }[step]
        return min(base + round * increment, TIMEOUT_MS_MAX)
