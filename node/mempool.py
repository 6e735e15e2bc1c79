"""The mempool: transactions admitted for inclusion, per sender in nonce order, bounded.

Admission (``add``) refuses with ``MempoolRejection(reason_code, message)``,
checking the cheapest rules first so that junk costs little:

    too_large         encoded size > TX_BYTES_MAX (before decoding raw bytes)
    malformed         raw bytes that do not decode as a SignedTransaction
    duplicate         the same tx id is already held
    wrong_chain       another chain's id
    gas_limit_too_high  gas limit > the block gas limit (it could never be included)
    nonce_exhausted   nonce = 2^64 - 1
    expired           expiry height below the next block's height
    nonce_too_low     nonce < the sender's account nonce (already used: stale)
    nonce_too_far     nonce >= account nonce + NONCE_AHEAD_MAX
    nonce_taken       another tx of this sender with this nonce is held (no replacement)
    sender_full       the sender already holds SENDER_TXS_MAX txs
    not_permitted     the zone-policy hook denies it (its code is given in the message)
    bad_signature     the signature does not verify (via the shared verified cache)
    mempool_full      at capacity and the eviction rule frees nothing

The validity rules are the executor's own (``zonechain.node.executor``
``transaction_fault`` / ``nonce_fault`` / ``expiry_fault``), so a block built
by ``reap`` passes the executor's strict checks.

Bounds and fairness: at most ``capacity_txs`` txs and ``capacity_bytes``
bytes, and at most ``SENDER_TXS_MAX`` per sender. Eviction rule when full: the
newcomer may displace the HIGHEST-nonce tx of the sender holding the most
txs, and only if that sender holds more txs than the newcomer's sender will
after admission; otherwise the newcomer is refused (``mempool_full``). So a
flooding sender loses its own tail first and can never push a lighter sender
out, and every remaining sender's txs stay contiguous.

``reap(max_txs, max_gas)`` takes, for each sender, its txs in nonce order
contiguous from the account nonce, round-robin across senders (one tx per
sender per round, senders in order of first arrival), until either bound.
It removes nothing. ``update(block)`` runs after each commit: it drops the
block's txs, the now-stale txs of its senders, expired txs, and (with a zone
policy, after a block holding a governance or deploy tx: nothing else changes
permissions) txs that the policy now denies.

Not consensus code: the mempool's order is a proposer's choice; the executor
re-checks everything. Thread-safe (one lock); the signature is checked outside
it (libsodium releases the GIL, so concurrent admissions verify in parallel), and
every other rule is checked again under the lock before the tx goes in.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final

from zonechain.node.accounts import account_nonce
from zonechain.node.crypto import DEFAULT_VERIFIED_CACHE, VerifiedSignatureCache
from zonechain.node.executor import (
    BLOCK_GAS_MAX,
    ZonePolicy,
    allow_all,
    expiry_fault,
    signature_fault,
    static_fault,
)
from zonechain.node.types.block import Block
from zonechain.node.types.errors import MalformedMessage, MessageTooLarge
from zonechain.node.types.limits import BLOCK_TXS_MAX, TX_BYTES_MAX
from zonechain.node.types.transaction import CallPayload, SignedTransaction
from zonechain.vm.encoding import DecodeError
from zonechain.vm.state import StateReader

MEMPOOL_TXS_MAX: Final = 50_000
"""Five maximal blocks of transactions: enough to keep proposers fed through a
burst, small enough (a few hundred MB at most with typical txs) to bound memory."""

MEMPOOL_BYTES_MAX: Final = 256 * 1024 * 1024
"""Bounds memory when txs are large (deploys): 256 MiB."""

SENDER_TXS_MAX: Final = 256
"""One sender holds at most this many txs, so it cannot fill the pool alone."""

NONCE_CACHE_MAX: Final = 100_000
"""Account nonces remembered between two blocks at most (a stalled chain under a
flood of new senders cannot grow the cache without bound)."""

NONCE_AHEAD_MAX: Final = 1024
"""A tx's nonce may run at most this far ahead of its account's nonce: a
sender cannot park txs that could not be included for a very long time."""

TOO_LARGE: Final = "too_large"
MALFORMED: Final = "malformed"
DUPLICATE: Final = "duplicate"
NONCE_TOO_LOW: Final = "nonce_too_low"
NONCE_TOO_FAR: Final = "nonce_too_far"
NONCE_TAKEN: Final = "nonce_taken"
SENDER_FULL: Final = "sender_full"
NOT_PERMITTED: Final = "not_permitted"
MEMPOOL_FULL: Final = "mempool_full"


class MempoolRejection(Exception):
    """A transaction refused at the door; ``reason_code`` is stable, ``message`` says why."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message


@dataclass(frozen=True, slots=True)
class _Entry:
    signed: SignedTransaction
    sender: bytes
    size: int


class Mempool:
    """Pending transactions over the committed state ``state`` at ``height``."""

    def __init__(
        self, chain_id: str, state: StateReader, height: int = 0, *,
        capacity_txs: int = MEMPOOL_TXS_MAX, capacity_bytes: int = MEMPOOL_BYTES_MAX,
        sender_txs_max: int = SENDER_TXS_MAX, block_gas_max: int = BLOCK_GAS_MAX,
        zone_policy: ZonePolicy = allow_all,
        signature_cache: VerifiedSignatureCache | None = DEFAULT_VERIFIED_CACHE,
    ) -> None:
        if min(capacity_txs, capacity_bytes, sender_txs_max, block_gas_max) < 1:
            raise ValueError("mempool bounds must be positive")
        self.chain_id = chain_id
        self.state = state
        self.height = height
        self.capacity_txs = capacity_txs
        self.capacity_bytes = capacity_bytes
        self.sender_txs_max = sender_txs_max
        self.block_gas_max = block_gas_max
        self.zone_policy = zone_policy
        self.signature_cache = signature_cache
        self._lock = threading.Lock()
        self._by_hash: dict[bytes, _Entry] = {}
        # sender -> {nonce: tx id}; dict order = order of the sender's first arrival.
        self._by_sender: dict[bytes, dict[int, bytes]] = {}
        self._bytes = 0
        self._expiring = 0  # held txs with an expiry height (update walks the pool only then)
        self._nonces: dict[bytes, int] = {}
        """Account nonces read from ``state`` since ``update`` last ran: admission, reaping
        and ``update`` itself each need a sender's nonce, and it changes only with a block."""

    # -- reading ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, tx_hash: bytes) -> SignedTransaction | None:
        entry = self._by_hash.get(tx_hash)
        return None if entry is None else entry.signed

    def sender_count(self, sender: bytes) -> int:
        return len(self._by_sender.get(sender, {}))

    # -- admission ----------------------------------------------------------------

    def add(self, tx: SignedTransaction | bytes) -> bytes:
        """Admit ``tx`` (object or canonical bytes); its id, or MempoolRejection.

        A tx admitted while a block is being recorded (committed, its ``update``
        not yet run) is checked against the state before that block; if the block
        made it stale (its nonce used, its sender's permission revoked), that
        ``update`` drops it rather than this call refusing it."""
        signed, size = _decode(tx)
        with self._lock:
            self._check(signed)
            checked_at = self.height
        # The signature last (the expensive check runs only for an otherwise good tx)
        # and outside the lock: libsodium releases the GIL, so admissions on several
        # threads (client calls, each peer's gossip) verify on several cores.
        fault = signature_fault(signed, self.signature_cache)
        if fault is not None:
            raise MempoolRejection(fault.code, fault.message)
        with self._lock:
            # Again, as the pool or the state may have moved meanwhile. With no block
            # recorded since (``update`` moves ``height``), only other admissions could
            # have changed anything, so only the pool's rules need checking; a block
            # committed but not yet recorded is cleaned up by its ``update``.
            if self.height == checked_at:
                self._check_pool(signed)
            else:
                self._check(signed)
            self._make_room(signed.tx.sender_address, size)
            self._insert(_Entry(signed, signed.tx.sender_address, size))
        return signed.hash

    def _check(self, signed: SignedTransaction) -> None:
        """Every admission rule but the signature and room (callers hold the lock)."""
        tx_hash = signed.hash
        if tx_hash in self._by_hash:
            raise MempoolRejection(DUPLICATE, "this transaction is already pending")
        tx = signed.tx
        fault = (static_fault(signed, self.chain_id, gas_max=self.block_gas_max)
                 or expiry_fault(tx, self.height + 1))
        if fault is not None:
            raise MempoolRejection(fault.code, fault.message)
        sender = tx.sender_address
        self._check_nonce(sender, tx.nonce)
        denial = self.zone_policy(tx, sender, self.state)
        if denial is not None:
            raise MempoolRejection(NOT_PERMITTED, f"{denial.code}: {denial.message}")

    def _check_pool(self, signed: SignedTransaction) -> None:
        """The rules that depend on the pool alone: those ``_check`` ran against the
        state still hold while no block is recorded (callers hold the lock)."""
        if signed.hash in self._by_hash:
            raise MempoolRejection(DUPLICATE, "this transaction is already pending")
        self._check_held(signed.tx.sender_address, signed.tx.nonce)

    def _check_nonce(self, sender: bytes, nonce: int) -> None:
        expected = self._account_nonce(sender)
        if nonce < expected:
            raise MempoolRejection(
                NONCE_TOO_LOW, f"nonce {nonce} is used; the account is at {expected}")
        if nonce >= expected + NONCE_AHEAD_MAX:
            raise MempoolRejection(
                NONCE_TOO_FAR, f"nonce {nonce} is more than {NONCE_AHEAD_MAX} past {expected}")
        self._check_held(sender, nonce)

    def _check_held(self, sender: bytes, nonce: int) -> None:
        held = self._by_sender.get(sender, {})
        if nonce in held:
            raise MempoolRejection(NONCE_TAKEN, f"another tx with nonce {nonce} is pending")
        if len(held) >= self.sender_txs_max:
            raise MempoolRejection(
                SENDER_FULL, f"the sender already has {self.sender_txs_max} pending txs")

    def _make_room(self, sender: bytes, size: int) -> None:
        """Evict per the module's rule until the newcomer fits, or refuse it."""
        if size > self.capacity_bytes:
            raise MempoolRejection(MEMPOOL_FULL, "the tx is larger than the whole mempool")
        total, used = len(self._by_hash), self._bytes
        if total + 1 <= self.capacity_txs and used + size <= self.capacity_bytes:
            return  # the common case: room already, no per-sender counting
        # Plan every eviction first: a newcomer that is refused evicts nothing.
        counts = {held: len(txs) for held, txs in self._by_sender.items()}
        victims: list[bytes] = []
        while total + 1 > self.capacity_txs or used + size > self.capacity_bytes:
            newcomer_count = counts.get(sender, 0) + 1
            heaviest = max(counts, key=counts.__getitem__)
            if counts[heaviest] <= newcomer_count:
                raise MempoolRejection(MEMPOOL_FULL, "the mempool is full")
            by_nonce = self._by_sender[heaviest]
            victim = by_nonce[sorted(by_nonce)[counts[heaviest] - 1]]  # its highest left
            victims.append(victim)
            counts[heaviest] -= 1
            total -= 1
            used -= self._by_hash[victim].size
        for victim in victims:
            self._remove(victim)

    def _insert(self, entry: _Entry) -> None:
        tx_hash = entry.signed.hash
        self._by_hash[tx_hash] = entry
        self._by_sender.setdefault(entry.sender, {})[entry.signed.tx.nonce] = tx_hash
        self._bytes += entry.size
        if entry.signed.tx.expiry_height is not None:
            self._expiring += 1

    def _remove(self, tx_hash: bytes) -> None:
        entry = self._by_hash.pop(tx_hash)
        held = self._by_sender[entry.sender]
        del held[entry.signed.tx.nonce]
        if not held:
            del self._by_sender[entry.sender]
        self._bytes -= entry.size
        if entry.signed.tx.expiry_height is not None:
            self._expiring -= 1

    # -- building a block ---------------------------------------------------------

    def reap(self, max_txs: int = BLOCK_TXS_MAX, max_gas: int | None = None,
             ) -> list[SignedTransaction]:
        """Txs for the next block: per sender contiguous nonces, round-robin across senders."""
        gas_left = self.block_gas_max if max_gas is None else min(max_gas, self.block_gas_max)
        with self._lock:
            queues = [self._ready(sender) for sender in self._by_sender]
        reaped: list[SignedTransaction] = []
        depth = 0
        while len(reaped) < max_txs and any(depth < len(queue) for queue in queues):
            for queue in queues:
                if depth >= len(queue) or len(reaped) >= max_txs:
                    continue
                signed = queue[depth]
                if signed.tx.gas_limit > gas_left:
                    del queue[depth:]  # later nonces of this sender depend on this one
                    continue
                gas_left -= signed.tx.gas_limit
                reaped.append(signed)
            depth += 1
        return reaped

    def _ready(self, sender: bytes) -> list[SignedTransaction]:
        """The sender's txs in nonce order from its account nonce, up to the first gap."""
        held = self._by_sender[sender]
        nonce = self._account_nonce(sender)
        ready: list[SignedTransaction] = []
        next_height = self.height + 1
        while nonce in held:
            signed = self._by_hash[held[nonce]].signed
            if expiry_fault(signed.tx, next_height) is not None:
                break
            ready.append(signed)
            nonce += 1
        return ready

    def _account_nonce(self, sender: bytes) -> int:
        """``sender``'s account nonce in ``state``, read once per block (callers hold the lock).

        A value read after a block was committed but before its ``update`` may be
        the newer one; ``update`` forgets every value, so from then on all agree."""
        nonce = self._nonces.get(sender)
        if nonce is None:
            if len(self._nonces) >= NONCE_CACHE_MAX:
                self._nonces.clear()
            nonce = self._nonces[sender] = account_nonce(self.state, sender)
        return nonce

    # -- after a commit -----------------------------------------------------------

    def update(self, block: Block) -> int:
        """Forget what ``block`` (just committed) made stale; the number of txs dropped."""
        with self._lock:
            before = len(self._by_hash)
            self.height = block.height
            self._nonces.clear()
            senders: dict[bytes, None] = {}
            for signed in block.txs:
                if signed.hash in self._by_hash:
                    self._remove(signed.hash)
                senders[signed.tx.sender_address] = None
            for sender in senders:
                self._drop_stale(sender)
            self._drop_expired_and_denied(_may_change_policy(block))
            return before - len(self._by_hash)

    def _drop_stale(self, sender: bytes) -> None:
        held = self._by_sender.get(sender)
        if not held:
            return
        expected = self._account_nonce(sender)
        for nonce in [n for n in held if n < expected]:
            self._remove(held[nonce])

    def _drop_expired_and_denied(self, policy_may_have_changed: bool) -> None:
        next_height = self.height + 1
        check_policy = policy_may_have_changed and self.zone_policy is not allow_all
        if not check_policy and not self._expiring:
            return  # nothing held can have expired: skip the walk over the whole pool
        doomed: list[bytes] = []
        for tx_hash, entry in self._by_hash.items():
            tx = entry.signed.tx
            if expiry_fault(tx, next_height) is not None or (
                    check_policy and self.zone_policy(tx, entry.sender, self.state) is not None):
                doomed.append(tx_hash)
        for tx_hash in doomed:
            self._remove(tx_hash)


def _may_change_policy(block: Block) -> bool:
    """Whether ``block`` could change what the zone policy says of a held tx.

    Permissions change only through governance transactions; a deploy adds the
    contract record that the SELF rule of a call policy reads. A block with
    neither leaves every policy answer as it was (re-asking costs state reads
    for every held tx, every block)."""
    return any(not isinstance(signed.tx.payload, CallPayload) for signed in block.txs)


def _decode(tx: SignedTransaction | bytes) -> tuple[SignedTransaction, int]:
    if isinstance(tx, SignedTransaction):
        size = len(tx.encode())
        if size > TX_BYTES_MAX:
            raise MempoolRejection(TOO_LARGE, f"{size} bytes exceeds {TX_BYTES_MAX}")
        return tx, size
    if not isinstance(tx, bytes | bytearray | memoryview):
        raise MempoolRejection(MALFORMED, f"expected transaction bytes, got {type(tx).__name__}")
    data = bytes(tx)
    if len(data) > TX_BYTES_MAX:
        raise MempoolRejection(TOO_LARGE, f"{len(data)} bytes exceeds {TX_BYTES_MAX}")
    try:
        return SignedTransaction.decode(data), len(data)
    except MessageTooLarge as error:
        raise MempoolRejection(TOO_LARGE, str(error)) from None
    except (DecodeError, MalformedMessage) as error:
        raise MempoolRejection(MALFORMED, str(error)) from None
