"""Opening a directory as a RocksDB database, and naming what went wrong if it cannot be.

A directory is one of: absent or empty (a fresh store is created, with every
column family), a RocksDB database whose column families include ``meta``
(opened with exactly the families it has, so that nothing is created before
the store has read its schema version), or anything else, which is refused
with a typed, one-line error: ``StoreNotZonechain`` for another program's
RocksDB, ``StoreCorrupt`` for damaged or unreadable directories,
``StoreLocked`` when another process or handle holds RocksDB's LOCK file.

Opening writes nothing a crash could tear: RocksDB creates its files and
column families through its MANIFEST, which it syncs, and the store writes
its metadata afterwards in one synced batch (see store.py). One case is left
to the operator: a crash inside RocksDB's creation of a brand-new directory,
before it wrote CURRENT, leaves files but no database; that directory holds no
data and is refused as ``StoreCorrupt`` ("not a RocksDB directory") until it is
removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from rocksdict import BlockBasedOptions, Options, Rdict

from zonechain.node.store.errors import (
    StoreCorrupt,
    StoreError,
    StoreLocked,
    StoreNotZonechain,
)
from zonechain.node.store.layout import CF_META, COLUMN_FAMILIES

ROCKSDB_LOG_FILES_KEPT: Final = 3
"""RocksDB keeps an info LOG per open by default; old ones only fill the disk."""

DELETION_WINDOW_ENTRIES: Final = 10_000
DELETIONS_IN_WINDOW_TRIGGER: Final = 5_000
DELETION_RATIO_TRIGGER: Final = 0.5
"""An SST file with at least 5,000 deletions in some 10,000 consecutive entries,
or tombstones for half its entries, is marked for compaction (RocksDB's
CompactOnDeletionCollector). Pruning deletes old tree nodes and value versions
in dense runs; until a compaction drops them, a seek onto a key with many
pruned versions steps over every marker (measured: ~25 ms per seek over
200,000 deleted entries; ~1 µs once compacted, which this triggers within
seconds of the flush). Stores without pruning delete almost nothing, so this
rarely fires there."""

BLOOM_BITS_PER_KEY: Final = 10
"""Bloom filters in every SST file (~1% false positives at 10 bits a key): most
point lookups a node makes are of keys a file does not hold (a new tx's id in
the tx index, an absent state key), and without a filter each one reads an
index and a data block of every level-0 file. Measured on 2-minute devnet runs
at 1,200 tx/s: node CPU per tx 1.37-1.43 ms with filters, 1.43-1.51 without
(benchmarks/RESULTS.md)."""

DEFAULT_FAMILY: Final = "default"
"""RocksDB's own column family; always present, unused by the store."""


def raw_options(*, create: bool = False) -> Any:
    """RocksDB options in raw-bytes mode (rocksdict would otherwise pickle values)."""
    options = Options(raw_mode=True)
    options.set_keep_log_file_num(ROCKSDB_LOG_FILES_KEPT)
    options.add_compact_on_deletion_collector_factory(
        DELETION_WINDOW_ENTRIES, DELETIONS_IN_WINDOW_TRIGGER, DELETION_RATIO_TRIGGER)
    table = BlockBasedOptions()
    table.set_bloom_filter(BLOOM_BITS_PER_KEY, False)
    options.set_block_based_table_factory(table)
    if create:
        options.create_if_missing(True)
        options.create_missing_column_families(True)
    return options


def open_database(path: Path) -> Any:
    """The RocksDB database at ``path`` (an ``Rdict``), created when the directory is fresh."""
    if _is_fresh(path):
        return _open(path, COLUMN_FAMILIES, create=True)
    if not (path / "CURRENT").is_file():
        raise StoreCorrupt(f"{path}: not a RocksDB directory (no CURRENT file)")
    families = list_families(path)
    if CF_META not in families:
        raise StoreNotZonechain(
            f"{path}: a RocksDB database without zonechain metadata (column families: "
            f"{', '.join(sorted(families))})"
        )
    return _open(path, families, create=False)


def list_families(path: Path) -> tuple[str, ...]:
    """The column families recorded in the database's MANIFEST."""
    try:
        families = Rdict.list_cf(str(path), raw_options())
    except Exception as error:  # rocksdict raises plain Exception for every RocksDB status
        raise translate_error(path, error) from None
    return tuple(str(name) for name in families)


def _is_fresh(path: Path) -> bool:
    try:
        if not path.exists():
            return True
        if not path.is_dir():
            raise StoreCorrupt(f"{path}: not a directory")
        return not any(path.iterdir())
    except OSError as error:
        raise StoreCorrupt(f"{path}: unreadable ({error.strerror or error})") from None


def _open(path: Path, families: tuple[str, ...], *, create: bool) -> Any:
    column_families = {
        name: raw_options() for name in families if name != DEFAULT_FAMILY
    }
    try:
        return Rdict(str(path), options=raw_options(create=create),
                     column_families=column_families)
    except Exception as error:  # rocksdict raises plain Exception for every RocksDB status
        raise translate_error(path, error) from None


def translate_error(path: Path, error: Exception) -> StoreError:
    """The most specific store error for a RocksDB failure while opening ``path``."""
    text = str(error)
    lowered = text.lower()
    if "lock" in lowered:
        return StoreLocked(f"{path}: in use by another process or handle ({text})")
    if "corruption" in lowered:
        return StoreCorrupt(f"{path}: damaged ({text})")
    return StoreCorrupt(f"{path}: cannot be opened ({text})")
