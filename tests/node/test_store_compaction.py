"""The store's RocksDB options compact runs of deletions soon after they reach disk
(node/store/opening.py DELETION_*): pruning deletes old tree nodes and value
versions in dense runs, and seeks would otherwise step over every marker."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rocksdict import WriteBatch

from zonechain.node.store.layout import CF_STATE_HISTORY
from zonechain.node.store.opening import DELETION_WINDOW_ENTRIES, open_database

DEADLINE_S = 60.0


def _deletions_on_disk(db: Any) -> int:
    total = 0
    for info in db.live_files():
        total += int(info.get("num_deletions", 0))
    return total


def test_a_flushed_run_of_deletions_is_compacted_away(tmp_path: Path) -> None:
    db = open_database(tmp_path / "db")
    try:
        family = db.get_column_family(CF_STATE_HISTORY)
        handle = db.get_column_family_handle(CF_STATE_HISTORY)
        keys = [b"k" + index.to_bytes(4, "big") for index in range(2 * DELETION_WINDOW_ENTRIES)]
        for value in (b"v" * 20, None):  # two files: the values, then their deletion markers
            batch = WriteBatch(raw_mode=True)
            for key in keys:
                if value is None:
                    batch.delete(key, handle)
                else:
                    batch.put(key, value, handle)
            db.write(batch)
            family.flush()
        # Two level-0 files are below RocksDB's own compaction trigger (four): only
        # the deletion collector marks the second one for compaction.
        deadline = time.monotonic() + DEADLINE_S
        while _deletions_on_disk(db) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling RocksDB's background work, bounded by the deadline
        assert _deletions_on_disk(db) == 0
        iterator = family.iter()
        iterator.seek(b"k")
        assert not iterator.valid()
    finally:
        db.close()
