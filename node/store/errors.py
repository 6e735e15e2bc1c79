"""Every error the store raises, and what each means for the node.

Errors are raised at the door, before anything is written: a ``StoreInputError``
means the call changed nothing on disk. Messages are one line (RocksDB's own
multi-line text is folded), name the directory where it helps, and never carry
a traceback, so the CLI can print them as they are.

    StoreError
    ├── StoreVersionError      the directory holds another schema version
    ├── StoreChainMismatch     the directory belongs to another chain id
    ├── StoreCorrupt           unreadable, not RocksDB, or inconsistent metadata
    │   └── StoreNotZonechain  a RocksDB database that zonechain did not create
    ├── StoreLocked            another process (or handle) has it open
    ├── StoreClosed            used after close()
    ├── StoreInputError        a malformed argument; nothing was written
    │   └── StoreHeightError   a block that is not exactly last committed + 1
    └── StoreIOError           RocksDB failed a read or write: a node fault, stop
"""

from __future__ import annotations


def one_line(text: str) -> str:
    """Fold ``text`` onto one line (RocksDB messages can span several)."""
    return " ".join(text.split())


class StoreError(Exception):
    """Base of every error raised by zonechain.node.store."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))
        self.message = one_line(message)


class StoreVersionError(StoreError):
    """The directory was written with a schema version this code does not read."""


class StoreChainMismatch(StoreError):
    """The directory holds another chain (its chain id differs from the one asked for)."""


class StoreCorrupt(StoreError):
    """The directory cannot be read as a zonechain store (damaged, foreign or unreadable)."""


class StoreNotZonechain(StoreCorrupt):
    """A valid RocksDB database without zonechain's metadata; left untouched."""


class StoreLocked(StoreError):
    """Another process, or another handle in this one, holds the database lock."""


class StoreClosed(StoreError):
    """The store was used after ``close()``."""


class StoreInputError(StoreError):
    """A malformed argument (size, type, range); the call wrote nothing."""


class StoreHeightError(StoreInputError):
    """``commit_block`` was given a height other than last committed + 1."""


class StoreIOError(StoreError):
    """RocksDB failed an operation on an open store; the node must stop, not retry blindly."""
