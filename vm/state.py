"""The view of chain state that the VM reads and writes, and its key layout.

The VM never touches storage directly: it receives a ``StateReader`` (the
committed state at the start of the transaction, or an outer overlay) and
buffers every write in an overlay that is applied only when the call
succeeds. The ledger implements ``StateReader`` over RocksDB and the Merkle
tree; tests implement it over a dict.

Key layout (one flat, ordered byte-key space; every key is committed by the
state tree, so the layout is part of consensus):

    b"s" + contract address (20 B) + contract key   a contract's own storage
    b"m" + contract address (20 B)                  contract metadata (code hash, zone, ...)
    b"c" + code hash (32 B)                         Wasm code, after the gatekeeper
    b"a" + account address (20 B)                   account record (nonce, ...)
    b"g" + ...                                      governance and permissions

Determinism: ordered iteration is by unsigned byte-wise comparison of keys,
never by insertion or hash order.
"""

from __future__ import annotations

from typing import Protocol

ADDRESS_BYTES = 20
CODE_HASH_BYTES = 32

PREFIX_CONTRACT_STORAGE = b"s"
PREFIX_CONTRACT_META = b"m"
PREFIX_CODE = b"c"
PREFIX_ACCOUNT = b"a"
PREFIX_GOVERNANCE = b"g"


class StateReader(Protocol):
    """Read access to a consistent snapshot of state."""

    def get(self, key: bytes) -> bytes | None:
        """The value stored under ``key``, or None when absent."""
        ...

    def next_key(self, prefix: bytes, after: bytes | None) -> bytes | None:
        """The smallest key that starts with ``prefix`` and is greater than ``after``.

        ``after=None`` means "from the start of the prefix". Returns None when
        no such key exists. Keys are compared as unsigned bytes.
        """
        ...


def contract_storage_key(contract: bytes, key: bytes) -> bytes:
    """The global state key of ``key`` in ``contract``'s own storage."""
    if len(contract) != ADDRESS_BYTES:
        raise ValueError(f"contract address must be {ADDRESS_BYTES} bytes, got {len(contract)}")
    return PREFIX_CONTRACT_STORAGE + contract + key


def contract_meta_key(contract: bytes) -> bytes:
    if len(contract) != ADDRESS_BYTES:
        raise ValueError(f"contract address must be {ADDRESS_BYTES} bytes, got {len(contract)}")
    return PREFIX_CONTRACT_META + contract


def code_key(code_hash: bytes) -> bytes:
    if len(code_hash) != CODE_HASH_BYTES:
        raise ValueError(f"code hash must be {CODE_HASH_BYTES} bytes, got {len(code_hash)}")
    return PREFIX_CODE + code_hash


class DictState:
    """A ``StateReader`` over an in-memory dict (tests, the harness before the ledger)."""

    def __init__(self, items: dict[bytes, bytes] | None = None) -> None:
        self.items: dict[bytes, bytes] = dict(items or {})

    def get(self, key: bytes) -> bytes | None:
        return self.items.get(key)

    def next_key(self, prefix: bytes, after: bytes | None) -> bytes | None:
        candidates = [
            k for k in self.items if k.startswith(prefix) and (after is None or k > after)
        ]
        return min(candidates) if candidates else None

    def apply(self, writes: dict[bytes, bytes | None]) -> None:
        """Apply writes (None = delete), in sorted key order."""
        for key in sorted(writes):
            value = writes[key]
            if value is None:
                self.items.pop(key, None)
            else:
                self.items[key] = value
