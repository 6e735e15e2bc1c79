"""NodeStore: a node's durable record of the chain, on RocksDB.

Guarantee: the store is always at the end of some committed block. Everything
one block changes (the block, its hash index, its certificate, transaction
index entries, receipts, state writes and their history and change-index
entries, tree nodes,
stale-node index entries,
and the meta record of last height, block hash and state root) goes into ONE
RocksDB WriteBatch, written with ``sync=True``. RocksDB applies a batch
atomically through its write-ahead log, and the sync makes it durable before
``commit_block`` returns. So, for a crash at any instant:

- before the batch is written (``store.commit.before_batch``,
  ``store.commit.before_write``): nothing of the block is on disk; the node
  restarts at the previous height with that height's root and executes the
  block again (it still has the block and its certificate from consensus).
- after the write, before ``commit_block`` returns
  (``store.commit.after_write``): the whole block is on disk; the node
  restarts at this height with its root, and only the in-memory caller
  never learned of it.
There is no instant at which part of a block is visible after a restart.

``prune_tree`` deletes stale tree nodes and their index entries in one synced
batch: a crash leaves either all or none of them. ``prune_tree_step`` does the
same for at most a bounded number of nodes (the node prunes a backlog in
steps), writing with them a pruned-below marker that covers every version
that lost a node, so no crash leaves a readable-looking version with holes.
``save_consensus`` writes one record with sync, so a validator that saves its
vote before sending it never forgets, after a crash, a vote that a peer may
have seen. A crash while
a fresh directory is being set up (``store.open.before_init``) leaves a
RocksDB database with empty column families and no metadata, which the next
open initialises again.

Reads see the latest committed block. There is one writer: ``commit_block``,
``prune_tree``, ``save_certificate`` and the consensus records are serialised
by a lock; readers never block. ``get`` and ``next_key`` implement
``zonechain.vm.state.StateReader`` over the current state; ``state_at(h)``
(``get_at`` / ``next_key_at``) over the state after any committed height h,
from the value history (history.py), which a later commit never changes.
``prune_history_step`` deletes history entries that no height at or above its
floor reads (one synced batch per step, like the tree's); a read below the
floor raises ``HistoryPruned``, including one that overlapped the prune.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from rocksdict import WriteBatch, WriteOptions

from zonechain.node.failpoints import failpoint
from zonechain.node.store.commit import BlockCommit, Operation, validate_commit, write_commit
from zonechain.node.store.errors import (
    StoreChainMismatch,
    StoreClosed,
    StoreCorrupt,
    StoreInputError,
    StoreIOError,
    StoreVersionError,
)
from zonechain.node.store.history import (
    HISTORY_SKIPS_MAX,
    TOMBSTONE,
    HistoryPruned,
    HistoryWalkTooLong,
    change_key,
    decode_change_key,
    history_key,
    next_key_at,
    previous_entry,
    value_at,
)
from zonechain.node.store.layout import (
    CF_BLOCK_HASHES,
    CF_BLOCKS,
    CF_COMMITS,
    CF_CONSENSUS,
    CF_HISTORY_CHANGES,
    CF_META,
    CF_RECEIPTS,
    CF_STATE,
    CF_STATE_HISTORY,
    CF_TREE_NODES,
    CF_TREE_STALE,
    CF_TX_INDEX,
    COLUMN_FAMILIES,
    META_CHAIN_ID,
    META_HISTORY_PRUNED_BELOW,
    META_INITIAL_HEIGHT,
    META_LAST_BLOCK_HASH,
    META_LAST_HEIGHT,
    META_SCHEMA_VERSION,
    META_STATE_ROOT,
    META_TREE_PRUNED_BELOW,
    SCHEMA_VERSION,
    SCHEMA_VERSION_BYTES,
    TxLocation,
    check_bytes,
    check_chain_id,
    check_hash,
    check_height,
    check_key,
    decode_height,
    decode_stale_key,
    decode_tx_location,
    encode_height,
    encode_stale_key,
)
from zonechain.node.store.opening import list_families, open_database, raw_options


@dataclass(frozen=True)
class TreePruneStep:
    """What one ``prune_tree_step`` deleted and where the tree now stands.

    ``stale_entries``: the (stale-since version, node key) index entries removed,
    each with its node; ``pruned_below``: the persisted marker (versions below it
    are unreadable); ``done``: nothing stale up to the asked version remains.
    """

    pruned_below: int
    stale_entries: tuple[tuple[int, bytes], ...]
    done: bool

    @property
    def node_keys(self) -> tuple[bytes, ...]:
        return tuple(node_key for _, node_key in self.stale_entries)


@dataclass(frozen=True)
class _Meta:
    chain_id: str
    initial_height: int
    last_height: int | None
    last_block_hash: bytes | None
    state_root: bytes | None
    tree_pruned_below: int
    history_pruned_below: int


@dataclass(frozen=True)
class HistoryPruneStep:
    """What one ``prune_history_step`` did: ``pruned_below`` is the persisted floor
    (reads below it are refused), ``entries_deleted`` the history entries removed,
    ``keys_processed`` the change-index entries consumed, ``done`` as for the tree."""

    pruned_below: int
    entries_deleted: int
    keys_processed: int
    done: bool


class NodeStore:
    """The chain's blocks, receipts, current state, state-tree nodes and consensus records.

    Open with ``NodeStore(path, chain_id=...)`` (or ``NodeStore.open``); a fresh
    directory becomes a store of that chain whose first block has height
    ``initial_height``. Use as a context manager or call ``close()``.
    """

    def __init__(self, path: str | Path, *, chain_id: str, initial_height: int = 0) -> None:
        chain_id = check_chain_id(chain_id)
        initial_height = check_height(initial_height, "initial height")
        self._path = Path(path)
        self._write_lock = threading.Lock()
        self._families: dict[str, Any] = {}
        self._handles: dict[str, Any] = {}
        self._sync = WriteOptions()
        self._sync.sync = True
        # Reads at heights below this are refused; raised BEFORE a history prune
        # deletes anything (history.py, "Pruning"), so it may lead _meta's floor.
        self._history_floor = 0
        self._db: Any = open_database(self._path)
        try:
            self._families[CF_META] = self._db.get_column_family(CF_META)
            self._meta = self._load_or_initialise(chain_id, initial_height)
            self._history_floor = self._meta.history_pruned_below
        except BaseException:
            self._release()
            raise

    @classmethod
    def open(cls, path: str | Path, *, chain_id: str, initial_height: int = 0) -> NodeStore:
        return cls(path, chain_id=chain_id, initial_height=initial_height)

    # Opening ----------------------------------------------------------------

    def _load_or_initialise(self, chain_id: str, initial_height: int) -> _Meta:
        raw_version = self._get(CF_META, META_SCHEMA_VERSION)
        if raw_version is None:
            return self._initialise(chain_id, initial_height)
        if len(raw_version) != SCHEMA_VERSION_BYTES:
            raise StoreCorrupt(f"{self._path}: schema version record is malformed")
        version = int.from_bytes(raw_version, "big")
        if version != SCHEMA_VERSION:
            relation = "newer" if version > SCHEMA_VERSION else "older"
            raise StoreVersionError(
                f"{self._path}: store schema version {version} is {relation} than the "
                f"version {SCHEMA_VERSION} this zonechain reads"
            )
        missing = set(COLUMN_FAMILIES) - set(list_families(self._path))
        if missing:
            raise StoreCorrupt(f"{self._path}: column families missing: {sorted(missing)}")
        self._attach_families()
        stored_chain = self._require_meta(META_CHAIN_ID).decode("utf-8", "replace")
        if stored_chain != chain_id:
            raise StoreChainMismatch(
                f"{self._path}: holds chain {stored_chain!r}, not {chain_id!r}"
            )
        meta = self._read_meta(stored_chain)
        self._check_last_block(meta)
        return meta

    def _initialise(self, chain_id: str, initial_height: int) -> _Meta:
        """Set up a directory whose metadata was never written (fresh, or crashed in setup)."""
        present = set(list_families(self._path))
        for name in COLUMN_FAMILIES:
            if name in present:
                if self._has_data(name):
                    raise StoreCorrupt(f"{self._path}: metadata missing but {name!r} has data")
            else:
                self._create_family(name)
        self._attach_families()
        failpoint("store.open.before_init")
        self._write([
            (CF_META, META_SCHEMA_VERSION, SCHEMA_VERSION.to_bytes(SCHEMA_VERSION_BYTES, "big")),
            (CF_META, META_CHAIN_ID, chain_id.encode()),
            (CF_META, META_INITIAL_HEIGHT, encode_height(initial_height)),
        ])
        return _Meta(chain_id, initial_height, None, None, None, 0, 0)

    def _has_data(self, family: str) -> bool:
        iterator = self._db.get_column_family(family).iter()
        iterator.seek_to_first()
        return bool(iterator.valid())

    def _create_family(self, name: str) -> None:
        try:
            self._db.create_column_family(name, raw_options())
        except Exception as error:  # rocksdict raises plain Exception
            raise StoreIOError(f"{self._path}: cannot create column family {name}: {error}") \
                from None

    def _attach_families(self) -> None:
        for name in COLUMN_FAMILIES:
            self._families[name] = self._db.get_column_family(name)
            self._handles[name] = self._db.get_column_family_handle(name)

    def _read_meta(self, chain_id: str) -> _Meta:
        raw_last = self._get(CF_META, META_LAST_HEIGHT)
        raw_pruned = self._get(CF_META, META_TREE_PRUNED_BELOW)
        raw_history = self._get(CF_META, META_HISTORY_PRUNED_BELOW)
        return _Meta(
            chain_id=chain_id,
            initial_height=decode_height(self._require_meta(META_INITIAL_HEIGHT),
                                         "initial height"),
            last_height=None if raw_last is None else decode_height(raw_last, "last height"),
            last_block_hash=self._get(CF_META, META_LAST_BLOCK_HASH),
            state_root=self._get(CF_META, META_STATE_ROOT),
            tree_pruned_below=0 if raw_pruned is None else decode_height(raw_pruned, "pruned"),
            history_pruned_below=0 if raw_history is None else
            decode_height(raw_history, "history pruned"),
        )

    def _check_last_block(self, meta: _Meta) -> None:
        """Meta must point at a block that is on disk, under the hash it records."""
        if meta.last_height is None:
            return
        indexed = None if meta.last_block_hash is None else \
            self._get(CF_BLOCK_HASHES, meta.last_block_hash)
        if (self._get(CF_BLOCKS, encode_height(meta.last_height)) is None
                or indexed != encode_height(meta.last_height) or meta.state_root is None):
            raise StoreCorrupt(
                f"{self._path}: metadata names height {meta.last_height}, "
                "whose block, hash index or state root is missing"
            )

    def _require_meta(self, key: bytes) -> bytes:
        value = self._get(CF_META, key)
        if value is None:
            raise StoreCorrupt(f"{self._path}: meta record {key.decode()} is missing")
        return value

    # Closing ----------------------------------------------------------------

    def close(self) -> None:
        """Flush and release the database lock; later calls raise StoreClosed. Idempotent."""
        with self._write_lock:
            self._release()

    def _release(self) -> None:
        # A live column-family object keeps RocksDB (and its LOCK) open: drop them first.
        self._families.clear()
        self._handles.clear()
        db, self._db = self._db, None
        if db is not None:
            db.close()

    @property
    def closed(self) -> bool:
        return self._db is None

    def __enter__(self) -> NodeStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # Committing -------------------------------------------------------------

    def commit_block(self, commit: BlockCommit) -> None:
        """Write everything of one block atomically and durably (see the module docstring)."""
        with self._write_lock:
            self._require_open()
            commit = validate_commit(commit, self.next_height())
            if self._get(CF_BLOCK_HASHES, commit.block_hash) is not None:
                raise StoreInputError(
                    f"block hash {commit.block_hash.hex()} is already committed"
                )
            failpoint("store.commit.before_batch")
            batch = self._commit_batch(commit)
            failpoint("store.commit.before_write")
            self._write_batch(batch)
            self._meta = replace(self._meta, last_height=commit.height,
                                 last_block_hash=commit.block_hash, state_root=commit.state_root)
            failpoint("store.commit.after_write")

    def save_certificate(self, height: int, certificate: bytes) -> None:
        """Store (or replace) the commit certificate of an already committed height."""
        height = check_height(height, "height")
        check_bytes(certificate, "certificate", allow_empty=False)
        with self._write_lock:
            self._require_committed(height)
            self._write([(CF_COMMITS, encode_height(height), certificate)])

    def prune_tree(self, below_version: int) -> int:
        """Delete the tree nodes that no version >= ``below_version`` uses; return how many.

        A node stale since version v is not part of the tree at v or later, so
        every node with stale-since <= ``below_version`` goes, with its index
        entry, in one synced batch. Versions below ``below_version`` can no
        longer be read in full. Relies on the tree never reusing a node key
        once it went stale (node keys carry their version).
        """
        return len(self.prune_tree_step(below_version, None).node_keys)

    def prune_tree_step(self, below_version: int, nodes_max: int | None) -> TreePruneStep:
        """``prune_tree`` deleting at most ``nodes_max`` nodes (None: no bound).

        The stale index is walked in (stale-since, node key) order. When the
        bound stops the walk at an entry stale since s, only versions below s
        lost nodes, so the persisted pruned-below marker is s (never above
        ``below_version``, never moving back): one synced batch holds the
        deletions and the marker, and a crash leaves all or none of them.
        Call again until ``done`` to finish a large backlog in bounded steps.
        """
        below_version = check_height(below_version, "below_version")
        if nodes_max is not None and (isinstance(nodes_max, bool)
                                      or not isinstance(nodes_max, int) or nodes_max < 1):
            raise StoreInputError(f"nodes_max must be an int >= 1 or None, got {nodes_max!r}")
        with self._write_lock:
            self._require_prunable(below_version, "the tree")
            entries, done = self._stale_entries(below_version, nodes_max)
            reached = below_version if done else entries[-1][0]
            pruned_below = max(reached, self._meta.tree_pruned_below)
            if not entries and pruned_below == self._meta.tree_pruned_below:
                return TreePruneStep(pruned_below, (), done)  # nothing to write
            operations: list[Operation] = []
            for version, node_key in entries:
                operations.append((CF_TREE_NODES, node_key, None))
                operations.append((CF_TREE_STALE, encode_stale_key(version, node_key), None))
            operations.append((CF_META, META_TREE_PRUNED_BELOW, encode_height(pruned_below)))
            failpoint("store.prune.before_write")
            self._write(operations)
            self._meta = replace(self._meta, tree_pruned_below=pruned_below)
            failpoint("store.prune.after_write")
            return TreePruneStep(pruned_below, tuple(entries), done)

    def _stale_entries(self, below_version: int, nodes_max: int | None,
                       ) -> tuple[list[tuple[int, bytes]], bool]:
        """Stale-index entries with stale-since <= ``below_version``, in index order, at
        most ``nodes_max``; and whether that is all of them."""
        entries: list[tuple[int, bytes]] = []
        iterator = self._family(CF_TREE_STALE).iter()
        # Every entry below the marker is gone: start there, not among the deletion
        # tombstones before it (RocksDB would step over each until a compaction).
        iterator.seek(encode_height(self._meta.tree_pruned_below))
        while iterator.valid():
            version, node_key = decode_stale_key(iterator.key())
            if version > below_version:
                break
            if nodes_max is not None and len(entries) == nodes_max:
                return entries, False
            entries.append((version, node_key))
            iterator.next()
        return entries, True

    def prune_history_step(self, below_height: int, keys_max: int) -> HistoryPruneStep:
        """Delete history entries no read at ``below_height`` or later needs, walking at
        most ``keys_max`` change-index entries; reads below the new floor are refused.

        One synced batch holds the deletions, the consumed index entries and the
        floor: a crash leaves all or none. Bounded like ``prune_tree_step``: when
        ``keys_max`` stops the walk inside height h, the floor is h.
        """
        below_height = check_height(below_height, "below_height")
        if isinstance(keys_max, bool) or not isinstance(keys_max, int) or keys_max < 1:
            raise StoreInputError(f"keys_max must be an int >= 1, got {keys_max!r}")
        with self._write_lock:
            self._require_prunable(below_height, "the history")
            changes, done = self._history_changes(below_height, keys_max)
            reached = below_height if done else changes[-1][0]
            pruned_below = max(reached, self._meta.history_pruned_below)
            if not changes and pruned_below == self._meta.history_pruned_below:
                return HistoryPruneStep(pruned_below, 0, 0, done)
            history = self._family(CF_STATE_HISTORY)
            operations: list[Operation] = []
            for height, key in changes:
                previous = previous_entry(history, key, height)
                if previous is not None:
                    operations.append((CF_STATE_HISTORY, previous, None))
                entry = history_key(key, height)
                if history.get(entry) == TOMBSTONE:  # nothing older is left: absent anyway
                    operations.append((CF_STATE_HISTORY, entry, None))
                operations.append((CF_HISTORY_CHANGES, change_key(height, key), None))
            deleted = len(operations) - len(changes)
            operations.append((CF_META, META_HISTORY_PRUNED_BELOW, encode_height(pruned_below)))
            self._history_floor = max(self._history_floor, pruned_below)  # before deleting
            failpoint("store.prune.before_write")
            self._write(operations)
            self._meta = replace(self._meta, history_pruned_below=pruned_below)
            failpoint("store.prune.after_write")
            return HistoryPruneStep(pruned_below, deleted, len(changes), done)

    def _history_changes(self, below_height: int, keys_max: int,
                         ) -> tuple[list[tuple[int, bytes]], bool]:
        """Change-index entries of heights <= ``below_height``, at most ``keys_max``;
        and whether that is all of them."""
        changes: list[tuple[int, bytes]] = []
        iterator = self._family(CF_HISTORY_CHANGES).iter()
        iterator.seek(encode_height(self._meta.history_pruned_below))  # as for the tree
        while iterator.valid():
            height, key = decode_change_key(iterator.key())
            if height > below_height:
                break
            if len(changes) == keys_max:
                return changes, False
            changes.append((height, key))
            iterator.next()
        return changes, True

    # Consensus records ------------------------------------------------------

    def save_consensus(self, key: bytes, value: bytes) -> None:
        """Durably store a consensus record (e.g. the last signed vote) before returning."""
        check_key(key, "consensus key")
        check_bytes(value, "consensus value")
        with self._write_lock:
            self._require_open()
            failpoint("store.consensus.before_write")
            self._write([(CF_CONSENSUS, key, value)])
            failpoint("store.consensus.after_write")

    def load_consensus(self, key: bytes) -> bytes | None:
        return self._get(CF_CONSENSUS, check_key(key, "consensus key"))

    def delete_consensus(self, key: bytes) -> None:
        """Durably remove a consensus record (absent keys are fine)."""
        check_key(key, "consensus key")
        with self._write_lock:
            self._require_open()
            self._write([(CF_CONSENSUS, key, None)])

    def consensus_records(self, prefix: bytes = b"") -> list[tuple[bytes, bytes]]:
        """Every consensus record whose key starts with ``prefix``, in key order."""
        check_bytes(prefix, "consensus prefix")
        records: list[tuple[bytes, bytes]] = []
        iterator = self._family(CF_CONSENSUS).iter()
        iterator.seek(prefix)
        while iterator.valid():
            key = iterator.key()
            if not key.startswith(prefix):
                break
            records.append((key, iterator.value()))
            iterator.next()
        return records

    # Chain reads ------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def chain_id(self) -> str:
        return self._meta.chain_id

    @property
    def initial_height(self) -> int:
        return self._meta.initial_height

    def latest_height(self) -> int | None:
        """The last committed height; None before the first commit."""
        return self._meta.last_height

    def next_height(self) -> int:
        """The height the next ``commit_block`` must carry."""
        last = self._meta.last_height
        return self._meta.initial_height if last is None else last + 1

    def state_root(self) -> bytes | None:
        """The state root after the last committed block; None before the first commit."""
        return self._meta.state_root

    def last_block_hash(self) -> bytes | None:
        return self._meta.last_block_hash

    def tree_pruned_below(self) -> int:
        """Tree versions below this were pruned and cannot be read in full."""
        return self._meta.tree_pruned_below

    def history_pruned_below(self) -> int:
        """Values at heights below this are refused (``HistoryPruned``): pruned, or
        being pruned right now."""
        return self._history_floor

    def _require_history(self, height: int) -> None:
        """HistoryPruned unless reads at ``height`` are still answered. Readers call it
        before AND after a read: a prune raises the floor before it deletes."""
        floor = self._history_floor
        if height < floor:
            raise HistoryPruned(f"height {height}: the value history below {floor} is pruned")

    def load_block(self, height: int) -> bytes | None:
        return self._get(CF_BLOCKS, encode_height(check_height(height, "height")))

    def block_height(self, block_hash: bytes) -> int | None:
        raw = self._get(CF_BLOCK_HASHES, check_hash(block_hash, "block hash"))
        return None if raw is None else decode_height(raw, "block hash index")

    def load_block_by_hash(self, block_hash: bytes) -> bytes | None:
        height = self.block_height(block_hash)
        return None if height is None else self.load_block(height)

    def load_certificate(self, height: int) -> bytes | None:
        return self._get(CF_COMMITS, encode_height(check_height(height, "height")))

    def load_receipt(self, tx_hash: bytes) -> bytes | None:
        return self._get(CF_RECEIPTS, check_hash(tx_hash, "transaction hash"))

    def tx_location(self, tx_hash: bytes) -> TxLocation | None:
        raw = self._get(CF_TX_INDEX, check_hash(tx_hash, "transaction hash"))
        return None if raw is None else decode_tx_location(raw)

    # State reads (zonechain.vm.state.StateReader) ----------------------------

    def get(self, key: bytes) -> bytes | None:
        """The current value of state ``key``, or None when absent."""
        return self._get(CF_STATE, check_key(key, "state key"))

    def next_key(self, prefix: bytes, after: bytes | None) -> bytes | None:
        """The smallest state key starting with ``prefix`` and greater than ``after``."""
        check_bytes(prefix, "prefix")
        start = prefix
        if after is not None:
            # after + b"\x00" is the smallest key greater than after.
            start = max(prefix, check_bytes(after, "after") + b"\x00")
        iterator = self._family(CF_STATE).iter()
        iterator.seek(start)
        if iterator.valid():
            key: bytes = iterator.key()
            if key.startswith(prefix):
                return key
        return None

    def get_at(self, key: bytes, height: int) -> bytes | None:
        """The value of state ``key`` after committed ``height``, or None when absent then."""
        check_key(key, "state key")
        self._require_committed(check_height(height, "height"))
        self._require_history(height)
        try:
            value = value_at(self._family(CF_STATE_HISTORY), key, height)
            self._require_history(height)
            return value
        except (StoreCorrupt, HistoryPruned):
            raise
        except Exception as error:  # rocksdict raises plain Exception
            raise StoreIOError(f"{self._path}: read from state_history failed: {error}") \
                from None

    def next_key_at(self, prefix: bytes, after: bytes | None, height: int,
                    on_skip: Callable[[], None] | None = None) -> bytes | None:
        """``next_key`` in the state after committed ``height`` (keys deleted by then, or
        created later, are skipped; ``on_skip()`` runs before each and may raise)."""
        check_bytes(prefix, "prefix")
        if after is not None:
            check_bytes(after, "after")
        self._require_committed(check_height(height, "height"))
        self._require_history(height)
        try:
            key = next_key_at(self._family(CF_STATE_HISTORY), prefix, after, height, on_skip)
            self._require_history(height)
            return key
        except (StoreCorrupt, HistoryWalkTooLong, HistoryPruned):
            raise
        except Exception as error:  # rocksdict raises plain Exception
            raise StoreIOError(f"{self._path}: read from state_history failed: {error}") \
                from None

    def state_at(self, height: int) -> StateAt:
        """A read-only ``StateReader`` of the state after committed ``height``."""
        self._require_committed(check_height(height, "height"))
        self._require_history(height)
        return StateAt(self, height)

    def get_node(self, node_key: bytes) -> bytes | None:
        """The encoded state-tree node stored under ``node_key``."""
        return self._get(CF_TREE_NODES, check_key(node_key, "tree node key"))

    # Plumbing ---------------------------------------------------------------

    def _require_open(self) -> None:
        if self._db is None:
            raise StoreClosed(f"{self._path}: the store is closed")

    def _require_prunable(self, below: int, what: str) -> None:
        """StoreInputError unless the store is open and ``below`` <= the last height."""
        self._require_open()
        last = self._meta.last_height
        if last is None or below > last:
            raise StoreInputError(f"cannot prune {what} below {below}: last committed is {last}")

    def _require_committed(self, height: int) -> None:
        self._require_open()
        last = self._meta.last_height
        if last is None or not self._meta.initial_height <= height <= last:
            raise StoreInputError(f"height {height} is not committed (last is {last})")

    def _family(self, name: str) -> Any:
        self._require_open()
        return self._families[name]

    def _get(self, family: str, key: bytes) -> bytes | None:
        column = self._family(family)
        try:
            value: bytes | None = column.get(key)
        except Exception as error:  # rocksdict raises plain Exception
            raise StoreIOError(f"{self._path}: read from {family} failed: {error}") from None
        return value

    def _batch(self, operations: Iterable[Operation]) -> Any:
        batch = WriteBatch(raw_mode=True)
        handles = self._handles
        for family, key, value in operations:
            if value is None:
                batch.delete(key, handles[family])
            else:
                batch.put(key, value, handles[family])
        return batch

    def _commit_batch(self, commit: BlockCommit) -> Any:
        """The batch of a validated commit (commit.py ``write_commit``: ~20,000 puts a
        block, put without a tuple per entry)."""
        batch = WriteBatch(raw_mode=True)
        write_commit(commit, batch, self._handles)
        return batch

    def _write(self, operations: Iterable[Operation]) -> None:
        self._write_batch(self._batch(operations))

    def _write_batch(self, batch: Any) -> None:
        try:
            self._db.write(batch, self._sync)
        except Exception as error:  # rocksdict raises plain Exception
            raise StoreIOError(f"{self._path}: synced write failed: {error}") from None



class StateAt:
    """The state after one committed height, read from the value history (a StateReader).

    Read-only by construction (no write method); the answers never change,
    whatever is committed later. One reader serves one view call: over its
    life ``next_key`` may pass at most ``skips_max`` keys absent at its height,
    then raises ``HistoryWalkTooLong`` (history.py).
    """

    __slots__ = ("height", "skips_left", "skips_max", "store")

    def __init__(self, store: NodeStore, height: int, skips_max: int | None = None) -> None:
        self.store = store
        self.height = height
        self.skips_max = self.skips_left = HISTORY_SKIPS_MAX if skips_max is None else skips_max

    def get(self, key: bytes) -> bytes | None:
        return self.store.get_at(key, self.height)

    def next_key(self, prefix: bytes, after: bytes | None) -> bytes | None:
        return self.store.next_key_at(prefix, after, self.height, self._skip)

    def _skip(self) -> None:
        if self.skips_left <= 0:
            raise HistoryWalkTooLong(
                f"walked past more than {self.skips_max} keys absent at height "
                f"{self.height}; page with a narrower prefix or a later start key")
        self.skips_left -= 1
