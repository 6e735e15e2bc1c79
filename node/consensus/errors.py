"""The consensus module's errors.

    ConsensusError            base class
    ├── InvalidValidatorSet   a validator set that breaks a rule (empty, duplicate, bad power)
    ├── InvalidCommit         a commit certificate that does not prove what it claims
    ├── DoubleSignRefused     the signer would sign a second, conflicting message
    │                         for one height/round/step (or go back in time)
    └── SignerStateCorrupt    the durable last-signed record cannot be decoded

Bad messages from peers (a wrong signature, a stranger's vote) are never
errors: the state machine ignores them, so a peer cannot crash a node.
"""

from __future__ import annotations


class ConsensusError(Exception):
    """Base class of every consensus error."""


class InvalidValidatorSet(ConsensusError, ValueError):
    """A validator set that breaks a rule: the message says which."""


class InvalidCommit(ConsensusError, ValueError):
    """A commit certificate that fails verification: the message says why."""


class DoubleSignRefused(ConsensusError):
    """Signing would conflict with what this validator already signed.

    ``previous`` is the encoded message signed before for the same slot
    (height, round, step), when the slot is the same; None when the request
    goes back to an earlier slot.
    """

    def __init__(self, message: str, previous: bytes | None) -> None:
        super().__init__(message)
        self.previous = previous


class SignerStateCorrupt(ConsensusError):
    """The last-signed record in the signer store cannot be decoded (a node fault)."""
