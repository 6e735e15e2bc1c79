"""The versioned value history: every state key's value at every committed height.

The ``state`` column family holds only the CURRENT values. ``state_history``
adds one entry per key a block changed, written in the SAME synced
WriteBatch as the block (``history_operations``, called from
commit.py's ``commit_operations``), so history and block land together or not
at all: after a crash the history ends exactly at the last committed height.
Entries are never rewritten, so a read at a committed height always finds the
same answer while later blocks are being written: the ledger runs view calls
on it without its lock, so they never hold up a block.

Pruning (a node with ``storage.retain_heights``): ``history_changes`` lists,
per height, the keys that height wrote (``change_key``; same batch). Pruning
to a floor F walks it from the lowest height up to F; for each key k written
at h <= F it deletes k's newest entry older than h (``previous_entry``; the
older ones went before), and then the index entry. The answer at any height
>= h is unchanged (its newest entry at or below that height is h's or
later), and heights below the highest h processed are refused from then on
(``HistoryPruned``): the store raises its floor in memory BEFORE deleting,
and a read checks the floor AFTER reading, so a view call that overlaps a
prune fails rather than answer from a half-pruned history. If h's own entry
is a tombstone it goes too: with nothing older left, no entry says "absent"
just as well, so a key deleted before F leaves no trace (and a walk of its
range, ``next_key_at``, no longer steps over it).

Key encoding (unambiguous and order-preserving although state keys have
variable length)::

    escape(state key) + TERMINATOR + height u64 BE
    escape: every 0x00 byte of the key becomes 0x00 0xFF
    TERMINATOR = 0x00 0x00

In the escaped key a 0x00 is always followed by 0xFF, so the terminator
cannot occur inside it and the key is read back without doubt. Byte-wise
order of entries is (state key, height) order: for keys a < b, every entry of
a sorts before every entry of b, including when a is a prefix of b (a's
0x00 0x00 is below b's next escaped byte, 0x00 0xFF or 0x01..0xFF). So the
entries of one key are contiguous and ascend by height, and the escaped
bytes of a key prefix are a prefix of every entry of every key under it.

Value encoding: ``PRESENT`` + value for a write, ``TOMBSTONE`` alone for a
delete (a state value may be empty, so an empty entry could not mean "deleted").

Reads: the value of key k at height H is the entry of k with the greatest
height <= H (one ``seek_for_prev``); none, or a tombstone, means absent. The
next key at H walks the keys of the prefix in order and skips those absent at
H (deleted, or created later): its cost grows with the keys deleted or
created after H in the range it passes, a seek each. Gas cannot price those
skips (no overlay holds them), so a reader bounds them: ``StateAt`` lets one
view call pass at most ``HISTORY_SKIPS_MAX`` over the whole call, then fails it
with ``HistoryWalkTooLong`` (a contract error: the call fails, the node goes on).

Determinism: pure byte functions; ``history_operations`` emits entries in the
order of the block's state writes (insertion-ordered mapping).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from zonechain.node.store.errors import StoreCorrupt
from zonechain.node.store.layout import (
    CF_HISTORY_CHANGES,
    CF_STATE_HISTORY,
    HEIGHT_BYTES,
    encode_height,
    split_height_prefix,
)
from zonechain.vm.errors import ContractError

HISTORY_SKIPS_MAX: Final = 100_000
"""Keys one view call at a past height may walk past in ``storage_next_key``
(absent at that height), over the whole call: about 0.16 s of RocksDB seeks
(measured: 100,000 keys created after H, walked at H, 2 cores)."""


class HistoryWalkTooLong(ContractError):
    """A view call at a past height walked past more than HISTORY_SKIPS_MAX absent keys."""

    code = "history_walk_too_long"


class HistoryPruned(ContractError):
    """A read at a height whose history was pruned, or pruned while the call ran."""

    code = "history_pruned"


ESCAPED_ZERO: Final = b"\x00\xff"
"""What a 0x00 byte of a state key becomes in a history key."""

TERMINATOR: Final = b"\x00\x00"
"""Ends the escaped state key; below every escaped byte, so shorter keys sort first."""

AFTER_TERMINATOR: Final = b"\x00\x01"
"""escape(k) + this is above every entry of k and below every key that extends k."""

PRESENT: Final = b"\x01"
TOMBSTONE: Final = b"\x00"

HistoryOperation = tuple[str, bytes, bytes]


def escape_key(key: bytes) -> bytes:
    return key.replace(b"\x00", ESCAPED_ZERO)


def history_key(key: bytes, height: int) -> bytes:
    """The history entry key of state ``key`` written at ``height``."""
    return key.replace(b"\x00", ESCAPED_ZERO) + TERMINATOR + encode_height(height)


def decode_history_key(entry: bytes) -> tuple[bytes, int]:
    """(state key, height) of a history entry key; StoreCorrupt if it is not one."""
    escaped_end = len(entry) - HEIGHT_BYTES - len(TERMINATOR)
    escaped = entry[:escaped_end]
    if escaped_end < 1 or entry[escaped_end:escaped_end + len(TERMINATOR)] != TERMINATOR \
            or escaped.replace(ESCAPED_ZERO, b"").count(0) != 0:
        raise StoreCorrupt(f"state_history key {entry[:48].hex()} is malformed")
    return escaped.replace(ESCAPED_ZERO, b"\x00"), int.from_bytes(entry[-HEIGHT_BYTES:], "big")


def encode_history_value(value: bytes | None) -> bytes:
    return TOMBSTONE if value is None else PRESENT + value


def decode_history_value(data: bytes) -> bytes | None:
    marker = data[:1]
    if marker == PRESENT:
        return data[1:]
    if data == TOMBSTONE:
        return None
    raise StoreCorrupt(f"state_history value starting {data[:8].hex()} is malformed")


def history_operations(height: int, state_writes: Mapping[bytes, bytes | None],
                       ) -> Iterator[HistoryOperation]:
    """One history entry per written key (None: a tombstone) and its change-index
    entry, for the block batch."""
    suffix = TERMINATOR + encode_height(height)
    for key, value in state_writes.items():
        yield (CF_STATE_HISTORY, key.replace(b"\x00", ESCAPED_ZERO) + suffix,
               TOMBSTONE if value is None else PRESENT + value)
        yield (CF_HISTORY_CHANGES, change_key(height, key), b"")


def history_entries(height: int, keys: Sequence[bytes], values: Sequence[bytes | None],
                    ) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """``history_operations`` as three columns, for the block batch at C speed:
    (entry keys, entry values, change-index keys) of ``keys[i]`` written with
    ``values[i]`` at ``height``. The same bytes, in the same order (a test holds
    the two together)."""
    suffix = TERMINATOR + encode_height(height)
    change_prefix = encode_height(height)
    return ([key.replace(b"\x00", ESCAPED_ZERO) + suffix for key in keys],
            [TOMBSTONE if value is None else PRESENT + value for value in values],
            [change_prefix + key for key in keys])


def change_key(height: int, key: bytes) -> bytes:
    """The ``history_changes`` entry saying that ``height`` wrote state ``key``."""
    return encode_height(height) + key


def decode_change_key(entry: bytes) -> tuple[int, bytes]:
    return split_height_prefix(entry, "history_changes")


def previous_entry(column: Any, key: bytes, height: int) -> bytes | None:
    """The newest history entry key of state ``key`` below ``height``, if any.

    Pruning deletes only this one per change: the change-index is walked in
    height order, so every older entry of ``key`` went when this one's own
    change was walked (or in the same batch), and the work stays one seek per
    changed key however long the backlog.
    """
    if height == 0:
        return None
    entry_prefix = escape_key(key) + TERMINATOR
    iterator = column.iter()
    iterator.seek_for_prev(entry_prefix + encode_height(height - 1))
    if not iterator.valid():
        return None
    entry: bytes = iterator.key()
    if not entry.startswith(entry_prefix) or len(entry) != len(entry_prefix) + HEIGHT_BYTES:
        return None
    return entry


# Reads over the column family (a rocksdict column object) ------------------------


def value_at(column: Any, key: bytes, height: int) -> bytes | None:
    """The value of ``key`` in the state after ``height``; None when absent then."""
    iterator = column.iter()
    return _version_at(iterator, escape_key(key) + TERMINATOR, height)


def _version_at(iterator: Any, entry_prefix: bytes, height: int) -> bytes | None:
    """Seek ``iterator`` to the newest entry under ``entry_prefix`` at or below ``height``."""
    iterator.seek_for_prev(entry_prefix + encode_height(height))
    if not iterator.valid():
        return None
    entry: bytes = iterator.key()
    if not entry.startswith(entry_prefix) or len(entry) != len(entry_prefix) + HEIGHT_BYTES:
        return None
    return decode_history_value(iterator.value())


def next_key_at(column: Any, prefix: bytes, after: bytes | None, height: int,
                on_skip: Callable[[], None] | None = None) -> bytes | None:
    """The smallest key with ``prefix``, greater than ``after``, present after ``height``;
    ``on_skip()`` runs before passing each key absent at ``height`` (it may raise)."""
    start = prefix if after is None else max(prefix, after + b"\x00")
    escaped_prefix = escape_key(prefix)
    iterator = column.iter()
    iterator.seek(escape_key(start))
    while iterator.valid():
        entry: bytes = iterator.key()
        if not entry.startswith(escaped_prefix):
            return None
        key, first_height = decode_history_key(entry)
        escaped = escape_key(key)
        # The first entry of a key is its oldest: created after ``height`` means absent.
        if first_height <= height and \
                _version_at(iterator, escaped + TERMINATOR, height) is not None:
            return key
        if on_skip is not None:
            try:
                on_skip()
            except BaseException:
                # The error's traceback keeps this frame: drop the database handles
                # first, or a refused query would keep the database open until the
                # next cyclic garbage collection (a restart could not lock it).
                del iterator, column
                raise
        iterator.seek(escaped + AFTER_TERMINATOR)
    return None
