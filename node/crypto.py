"""Ed25519 keys, signing and verification for transactions, votes and proposals.

Guarantees:
- What is signed is always domain-separated canonical bytes from
  zonechain.node.types (``Transaction.signing_bytes()``, ``Vote.signing_bytes()``,
  ``Proposal.signing_bytes()``), never protobuf.
- ``verify_signature`` is the one place that picks the ed25519 backend.
  It is PyNaCl (libsodium): measured ~2x the verify rate of `cryptography`
  here (benchmarks/RESULTS.md, "Transactions and signatures"). libsodium
  rejects non-canonical signatures (S >= L) and small-order keys, so a third
  party cannot turn a valid signature into a second valid one.
- ``verify_transaction`` checks each signed transaction once per node: a
  success is remembered in a bounded LRU keyed by the transaction id, which
  covers the signature bytes, so a cached entry vouches for exactly the bytes
  that were checked. Failures are never cached.

Errors: ``InvalidSignature`` (a ValueError) for any signature that does not
verify, or whose signer does not match the claimed validator address.

    key = PrivateKey.generate()                     # or PrivateKey.from_seed(32 bytes)
    signed = sign_transaction(tx, key)              # tx.sender must be key.public_key
    verify_transaction(signed)                      # -> None, or raises InvalidSignature
    vote = sign_vote(key, VoteType.PREVOTE, chain_id, height, round, block_hash)
    verify_vote(vote, validator_public_key)

Determinism: ed25519 signing is deterministic (RFC 8032), and verification
gives the same answer on every node for the same bytes.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Final

import nacl.bindings
import nacl.exceptions
import nacl.signing

from zonechain.node.types.address import account_address
from zonechain.node.types.limits import PUBLIC_KEY_BYTES, SIGNATURE_BYTES
from zonechain.node.types.transaction import SignedTransaction, Transaction
from zonechain.node.types.vote import Proposal, Vote, VoteType

SEED_BYTES: Final = 32
"""An ed25519 private key is a 32-byte seed (RFC 8032)."""

VERIFIED_CACHE_ENTRIES_MAX: Final = 65_536
"""Verified tx ids remembered: several full mempools' worth (32-byte keys,
a few MiB), so a tx admitted to the mempool is not re-verified when its block
executes, while memory stays bounded."""


class InvalidSignature(ValueError):
    """A signature that does not verify for the claimed signer."""


class PrivateKey:
    """An ed25519 signing key. ``public_key`` is 32 bytes; ``address`` is its account address."""

    __slots__ = ("_public_key", "_seed", "_signing_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError(f"an ed25519 seed is {SEED_BYTES} bytes, got {len(seed)}")
        self._seed = bytes(seed)
        self._signing_key = nacl.signing.SigningKey(self._seed)
        self._public_key: bytes = bytes(self._signing_key.verify_key)

    @classmethod
    def from_seed(cls, seed: bytes) -> PrivateKey:
        return cls(seed)

    @classmethod
    def generate(cls) -> PrivateKey:
        """A new key from the operating system's CSPRNG."""
        return cls(os.urandom(SEED_BYTES))

    @property
    def seed(self) -> bytes:
        """The 32 secret bytes: store them as carefully as the key itself."""
        return self._seed

    @property
    def public_key(self) -> bytes:
        return self._public_key

    @property
    def address(self) -> bytes:
        return account_address(self._public_key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte ed25519 signature of ``message``."""
        signature: bytes = self._signing_key.sign(message).signature
        return signature

    def __repr__(self) -> str:
        return f"PrivateKey(public_key={self._public_key.hex()})"


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid ed25519 signature of ``message`` by ``public_key``."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


class VerifiedSignatureCache:
    """A thread-safe LRU set of transaction ids whose signatures verified."""

    __slots__ = ("_entries", "_entries_max", "_lock")

    def __init__(self, entries_max: int = VERIFIED_CACHE_ENTRIES_MAX) -> None:
        if entries_max < 1:
            raise ValueError("entries_max must be at least 1")
        self._entries: OrderedDict[bytes, None] = OrderedDict()
        self._entries_max = entries_max
        self._lock = threading.Lock()

    def __contains__(self, tx_hash: object) -> bool:
        with self._lock:
            if tx_hash not in self._entries:
                return False
            assert isinstance(tx_hash, bytes)
            self._entries.move_to_end(tx_hash)
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def add(self, tx_hash: bytes) -> None:
        with self._lock:
            self._entries[tx_hash] = None
            self._entries.move_to_end(tx_hash)
            while len(self._entries) > self._entries_max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


DEFAULT_VERIFIED_CACHE: Final = VerifiedSignatureCache()
"""The node's shared cache (mempool admission and block execution both use it)."""


def sign_transaction(tx: Transaction, key: PrivateKey) -> SignedTransaction:
    """``tx`` signed by ``key``; the key must be the transaction's sender."""
    if tx.sender != key.public_key:
        raise ValueError("the signing key is not the transaction's sender")
    return SignedTransaction(tx, key.sign(tx.signing_bytes()))


def verify_transaction(
    signed: SignedTransaction, cache: VerifiedSignatureCache | None = DEFAULT_VERIFIED_CACHE
) -> None:
    """Return if the sender's signature is valid (checked at most once per cache); else raise."""
    tx_hash = signed.hash
    if cache is not None and tx_hash in cache:
        return
    if not verify_signature(signed.tx.sender, signed.tx.signing_bytes(), signed.signature):
        raise InvalidSignature(f"transaction {tx_hash.hex()}: signature does not verify")
    if cache is not None:
        cache.add(tx_hash)


def sign_vote(
    key: PrivateKey, vote_type: VoteType, chain_id: str, height: int, round: int,
    block_hash: bytes | None,
) -> Vote:
    """A vote by ``key``'s validator address for ``block_hash`` (None: nil)."""
    message = Vote.signing_bytes_for(vote_type, chain_id, height, round, block_hash, key.address)
    return Vote(vote_type, chain_id, height, round, block_hash, key.address, key.sign(message))


def verify_vote(vote: Vote, public_key: bytes) -> None:
    """Raise InvalidSignature unless ``public_key`` is the voter's and signed ``vote``."""
    _check_signer("vote", vote.validator, public_key)
    if not verify_signature(public_key, vote.signing_bytes(), vote.signature):
        raise InvalidSignature("vote: signature does not verify")


def sign_proposal(
    key: PrivateKey, chain_id: str, height: int, round: int, pol_round: int | None,
    block_hash: bytes,
) -> Proposal:
    """A proposal of ``block_hash`` signed by ``key``'s validator."""
    message = Proposal.signing_bytes_for(chain_id, height, round, pol_round, block_hash,
                                         key.address)
    return Proposal(chain_id, height, round, pol_round, block_hash, key.address,
                    key.sign(message))


def verify_proposal(proposal: Proposal, public_key: bytes) -> None:
    """Raise InvalidSignature unless ``public_key`` is the proposer's and signed ``proposal``."""
    _check_signer("proposal", proposal.proposer, public_key)
    if not verify_signature(public_key, proposal.signing_bytes(), proposal.signature):
        raise InvalidSignature("proposal: signature does not verify")


def _check_signer(what: str, address: bytes, public_key: bytes) -> None:
    if len(public_key) != PUBLIC_KEY_BYTES or account_address(public_key) != address:
        raise InvalidSignature(f"{what}: public key does not belong to {address.hex()}")
