"""The on-disk layout of the store: column families, key encodings and size limits.

Every integer in a key is big-endian and fixed-width, so RocksDB's byte-wise
key order is numeric order (iterating ``blocks`` walks heights upwards,
iterating ``tree_stale`` walks versions upwards). Values are raw bytes: the
store never pickles and never decodes blocks, receipts or tree nodes.

    column family   key                                   value
    blocks          height u64                            block bytes
    block_hashes    block hash (32 B)                     height u64
    commits         height u64                            commit certificate bytes
    tx_index        tx hash (32 B)                        height u64 + index in block u32
    receipts        tx hash (32 B)                        receipt bytes
    state           state key (vm/state.py layout)        value (the CURRENT state)
    state_history   escape(state key) 00 00 + height u64  01 + value, or 00 if deleted at height
                    (escape: each 00 byte -> 00 FF; one entry per key a block wrote, see history.py)
    history_changes height u64 + state key                b"" (the keys block h wrote: which
                    history entries a prune may delete, see history.py; added within schema 2,
                    which was never released, so no store of schema 2 lacks it)
    tree_nodes      node key (from the state tree)        encoded node
    tree_stale      stale-since version u64 + node key    b""
    consensus       caller's key (votes, WAL records)     caller's bytes
    meta            META_* names below                    see each name

Changing any of this is a schema change: bump ``SCHEMA_VERSION``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from zonechain.node.store.errors import StoreCorrupt, StoreInputError

SCHEMA_VERSION: Final = 2
"""Version of this layout; a store written by a newer (or older) version is refused.
2: ``state_history`` (values at every height) and ``history_changes`` (what its
pruning deletes); a version-1 store must be re-synced."""

CF_BLOCKS: Final = "blocks"
CF_BLOCK_HASHES: Final = "block_hashes"
CF_COMMITS: Final = "commits"
CF_TX_INDEX: Final = "tx_index"
CF_RECEIPTS: Final = "receipts"
CF_STATE: Final = "state"
CF_STATE_HISTORY: Final = "state_history"
CF_HISTORY_CHANGES: Final = "history_changes"
CF_TREE_NODES: Final = "tree_nodes"
CF_TREE_STALE: Final = "tree_stale"
CF_CONSENSUS: Final = "consensus"
CF_META: Final = "meta"
COLUMN_FAMILIES: Final[tuple[str, ...]] = (
    CF_BLOCKS, CF_BLOCK_HASHES, CF_COMMITS, CF_TX_INDEX, CF_RECEIPTS,
    CF_STATE, CF_STATE_HISTORY, CF_HISTORY_CHANGES, CF_TREE_NODES, CF_TREE_STALE,
    CF_CONSENSUS, CF_META,
)

META_SCHEMA_VERSION: Final = b"schema_version"  # u32
META_CHAIN_ID: Final = b"chain_id"  # UTF-8
META_INITIAL_HEIGHT: Final = b"initial_height"  # u64: the first height this store accepts
META_LAST_HEIGHT: Final = b"last_height"  # u64; absent until the first commit
META_LAST_BLOCK_HASH: Final = b"last_block_hash"  # 32 B
META_STATE_ROOT: Final = b"state_root"  # 32 B: the root after the last committed block
META_TREE_PRUNED_BELOW: Final = b"tree_pruned_below"  # u64: versions below it are unreadable
META_HISTORY_PRUNED_BELOW: Final = b"history_pruned_below"  # u64: heights below it are refused

HASH_BYTES: Final = 32
"""Block hashes, transaction hashes and state roots (sha256 / blake2b-256)."""

HEIGHT_MAX: Final = 2**63 - 1
"""Heights and tree versions: non-negative i64, the type the host ABI gives contracts."""

TX_INDEX_MAX: Final = 2**32 - 1
"""Position of a transaction in its block: u32 on disk."""

KEY_BYTES_MAX: Final = 1024
"""State, tree-node and consensus keys. The VM's keys are far shorter (a prefix,
a 20 B address and at most a few hundred bytes); a longer key is a bug upstream."""

RECORD_BYTES_MAX: Final = 64 * 1024 * 1024
"""Any one value (block, receipt, certificate, node, state value). RocksDB takes
far larger, but a single record this big means something upstream is wrong."""

CHAIN_ID_BYTES_MAX: Final = 64
"""Chain ids are short printable names (Cosmos caps them at 50 characters)."""

HEIGHT_BYTES: Final = 8
SCHEMA_VERSION_BYTES: Final = 4
TX_LOCATION_BYTES: Final = HEIGHT_BYTES + 4


@dataclass(frozen=True)
class TxLocation:
    """Where a transaction was committed: block height and position in the block."""

    height: int
    index: int


def encode_height(height: int) -> bytes:
    return height.to_bytes(HEIGHT_BYTES, "big")


def decode_height(data: bytes, what: str) -> int:
    if len(data) != HEIGHT_BYTES:
        raise StoreCorrupt(f"{what}: expected {HEIGHT_BYTES} bytes, found {len(data)}")
    return int.from_bytes(data, "big")


def encode_tx_location(location: TxLocation) -> bytes:
    return encode_height(location.height) + location.index.to_bytes(4, "big")


def decode_tx_location(data: bytes) -> TxLocation:
    if len(data) != TX_LOCATION_BYTES:
        raise StoreCorrupt(f"tx_index entry: expected {TX_LOCATION_BYTES} bytes, found {len(data)}")
    return TxLocation(int.from_bytes(data[:HEIGHT_BYTES], "big"),
                      int.from_bytes(data[HEIGHT_BYTES:], "big"))


def encode_stale_key(version: int, node_key: bytes) -> bytes:
    return encode_height(version) + node_key


def decode_stale_key(data: bytes) -> tuple[int, bytes]:
    return split_height_prefix(data, "tree_stale")


def split_height_prefix(data: bytes, family: str) -> tuple[int, bytes]:
    """(height, rest) of an index key that starts with a big-endian height."""
    if len(data) <= HEIGHT_BYTES:
        raise StoreCorrupt(f"{family} key of {len(data)} bytes is too short")
    return int.from_bytes(data[:HEIGHT_BYTES], "big"), data[HEIGHT_BYTES:]


# Checks shared by every door -------------------------------------------------


def check_bytes(value: object, what: str, *, exact: int | None = None,
                maximum: int = RECORD_BYTES_MAX, allow_empty: bool = True) -> bytes:
    """``value`` as bytes, or StoreInputError naming ``what`` and the rule broken."""
    if not isinstance(value, bytes):
        raise StoreInputError(f"{what} must be bytes, got {type(value).__name__}")
    if exact is not None and len(value) != exact:
        raise StoreInputError(f"{what} must be {exact} bytes, got {len(value)}")
    if not allow_empty and not value:
        raise StoreInputError(f"{what} must not be empty")
    if len(value) > maximum:
        raise StoreInputError(f"{what} is {len(value)} bytes, more than {maximum}")
    return value


def check_key(value: object, what: str) -> bytes:
    return check_bytes(value, what, maximum=KEY_BYTES_MAX, allow_empty=False)


def check_hash(value: object, what: str) -> bytes:
    return check_bytes(value, what, exact=HASH_BYTES)


def check_height(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoreInputError(f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= value <= HEIGHT_MAX:
        raise StoreInputError(f"{what} {value} is outside 0..{HEIGHT_MAX}")
    return value


def check_chain_id(value: object) -> str:
    if not isinstance(value, str):
        raise StoreInputError(f"chain id must be a str, got {type(value).__name__}")
    encoded = value.encode("utf-8", "replace")
    if not value or len(encoded) > CHAIN_ID_BYTES_MAX or not value.isprintable() \
            or value != value.strip():
        raise StoreInputError(
            f"chain id {value!r} must be 1..{CHAIN_ID_BYTES_MAX} printable bytes, no edge spaces"
        )
    return value
