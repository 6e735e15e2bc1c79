"""Building and signing transactions, and allocating their nonces.

Guarantees:
- ``build_call`` / ``build_deploy`` return a ``Transaction`` whose every field
  was checked (by zonechain.node.types); a bad field raises
  ``InvalidTransaction`` naming it, before anything is signed or sent.
  Contract addresses are accepted as 20 bytes or as ``zc...`` text.
- ``NonceManager`` hands out each nonce of one account exactly once, in
  increasing order, to any number of threads: it asks the node for the
  account nonce once (``fetch``), then allocates locally under a lock.
  ``release(n)`` gives back a nonce whose transaction never reached a
  mempool (the lowest released nonce is reused first, so no gap stays
  open); ``resync()`` forgets everything and asks the node again: call it
  after a ``nonce_too_low`` rejection (another process used the key).

One NonceManager per key per process: two processes that allocate for the
same key without sharing state will collide (the node then rejects one
transaction with ``nonce_taken`` or ``nonce_too_low``; nothing is executed
twice, because a nonce is consumed once on chain).

A signed transaction is identified by its hash; submitting the SAME signed
transaction again is harmless (the node answers ``duplicate`` or finds it
already committed), which is what makes a failover re-send safe.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

from zonechain.node.types.address import contract_address, parse_address
from zonechain.node.types.errors import InvalidAddress, MalformedMessage
from zonechain.node.types.transaction import CallPayload, DeployPayload, Transaction
from zonechain.sdk.errors import InvalidTransaction
from zonechain.sdk.keys import Key

DEFAULT_GAS_LIMIT: Final = 10_000_000
"""Gas for a call or deploy when the caller gives none: ~1% of the node's block
gas limit (node/executor.py BLOCK_GAS_MAX), generous for business contracts,
and small enough that many transactions fit one block."""

ADDRESS_BYTES: Final = 20


def to_address(value: bytes | str, what: str = "address") -> bytes:
    """20 address bytes from bytes or checksummed ``zc...`` text; InvalidTransaction if neither."""
    if isinstance(value, str):
        try:
            return parse_address(value)
        except InvalidAddress as error:
            raise InvalidTransaction(f"{what}: {error}") from None
    if isinstance(value, bytes | bytearray) and len(value) == ADDRESS_BYTES:
        return bytes(value)
    raise InvalidTransaction(f"{what}: expected 20 bytes or 'zc...' text, got {value!r:.60}")


def build_call(
    *, chain_id: str, sender: Key, nonce: int, contract: bytes | str, method: str,
    args: bytes = b"", zone: str, gas_limit: int = DEFAULT_GAS_LIMIT,
    expiry_height: int | None = None,
) -> Transaction:
    """An unsigned call of ``method`` on ``contract`` with canonical-encoded ``args``."""
    address = to_address(contract, "contract")
    return _build(
        lambda: Transaction(
            chain_id, sender.public_key, nonce, gas_limit, zone,
            CallPayload(address, method, bytes(args)), expiry_height,
        )
    )


def build_deploy(
    *, chain_id: str, sender: Key, nonce: int, code: bytes, init_args: bytes = b"",
    zone: str, gas_limit: int = DEFAULT_GAS_LIMIT, expiry_height: int | None = None,
) -> Transaction:
    """An unsigned deploy of Wasm ``code``; its contract address is ``deployed_address(tx)``."""
    return _build(
        lambda: Transaction(
            chain_id, sender.public_key, nonce, gas_limit, zone,
            DeployPayload(bytes(code), bytes(init_args)), expiry_height,
        )
    )


def deployed_address(tx: Transaction) -> bytes:
    """The address the contract of deploy transaction ``tx`` will have (known in advance)."""
    return contract_address(tx.sender_address, tx.nonce)


def read_code(path: str | Path) -> bytes:
    """Wasm bytes from a ``.wasm`` file, or from the single ``*.wasm`` in a build folder."""
    location = Path(path)
    if location.is_dir():
        modules = sorted(location.glob("*.wasm"))
        if len(modules) != 1:
            raise InvalidTransaction(
                f"{location}: expected exactly one .wasm file, found {len(modules)}"
            )
        location = modules[0]
    try:
        return location.read_bytes()
    except OSError as error:
        raise InvalidTransaction(
            f"{location}: cannot read contract code: {error.strerror}"
        ) from None


def _build(make: Callable[[], Transaction]) -> Transaction:
    try:
        return make()
    except (MalformedMessage, ValueError, TypeError) as error:
        raise InvalidTransaction(f"invalid transaction: {error}") from None


class NonceManager:
    """Thread-safe nonce allocation for one account; see the module docstring."""

    __slots__ = ("_fetch", "_lock", "_next", "_released")

    def __init__(self, fetch: Callable[[], int] | None = None) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._next: int | None = None
        self._released: list[int] = []

    def allocate(self) -> int:
        """The next unused nonce (fetches the account nonce on first use or after resync)."""
        with self._lock:
            if self._next is None and not self._released:
                if self._fetch is None:
                    raise RuntimeError("this NonceManager has no fetch: prime() it first")
                self._next = self._fetch()
            nonce = self._take()
            assert nonce is not None
            return nonce

    def try_allocate(self) -> int | None:
        """The next unused nonce, or None when the account nonce must be fetched (``prime``).

        For callers that fetch asynchronously (AsyncClient): they must not block
        while holding the lock, so they fetch outside it and ``prime`` the result.
        """
        with self._lock:
            return self._take()

    def prime(self, account_nonce: int) -> None:
        """Set the account nonce fetched from the node, unless another caller already did."""
        with self._lock:
            if self._next is None:
                self._next = account_nonce

    def _take(self) -> int | None:
        if self._released:
            return heapq.heappop(self._released)
        if self._next is None:
            return None
        nonce = self._next
        self._next += 1
        return nonce

    def release(self, nonce: int) -> None:
        """Give back ``nonce``: its transaction was refused before reaching any mempool."""
        with self._lock:
            if self._next is None or nonce >= self._next or nonce in self._released:
                return
            if nonce == self._next - 1:
                self._next = nonce
            else:
                heapq.heappush(self._released, nonce)

    def resync(self) -> None:
        """Forget local state; the next ``allocate`` asks the node again."""
        with self._lock:
            self._next = None
            self._released.clear()

    @property
    def pending(self) -> int | None:
        """The nonce the next fresh allocation would return (None before the first fetch)."""
        with self._lock:
            return self._next
