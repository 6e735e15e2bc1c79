"""Errors of the state tree, by who is at fault.

    TreeError
    ├── TreeInputError      the caller passed a bad version, key or value: nothing computed
    ├── VersionUnavailable  the asked-for version cannot be read
    │   ├── VersionPruned       it is older than the oldest version kept
    │   └── VersionNotFound     no root was ever written for it
    └── TreeCorruption      a node the tree needs is missing or unreadable: a node fault,
        ├── MissingNode         the storage lost data; the node must stop, not guess
        └── CorruptNode

Proof failures are ``proof.ProofError`` (kept in ``proof.py`` so that the SDK
needs nothing else).
"""

from __future__ import annotations


class TreeError(Exception):
    """Base of every error raised by zonechain.node.state (except proof checks)."""


class TreeInputError(TreeError):
    """A bad argument: the tree computed nothing."""


class VersionUnavailable(TreeError):
    def __init__(self, version: int, message: str) -> None:
        super().__init__(message)
        self.version = version


class VersionPruned(VersionUnavailable):
    """The version is older than the pruning window keeps."""

    def __init__(self, version: int, oldest_readable: int) -> None:
        super().__init__(
            version, f"state version {version} is pruned; oldest readable is {oldest_readable}"
        )
        self.oldest_readable = oldest_readable


class VersionNotFound(VersionUnavailable):
    """No tree was ever written at this version."""

    def __init__(self, version: int) -> None:
        super().__init__(version, f"no state tree at version {version}")


class TreeCorruption(TreeError):
    """Storage does not hold what the tree wrote: a node fault, never a user error."""


class MissingNode(TreeCorruption):
    def __init__(self, node_key: bytes) -> None:
        super().__init__(f"tree node {node_key.hex()} is missing from storage")
        self.node_key = node_key


class CorruptNode(TreeCorruption):
    """Stored node bytes do not decode."""
