"""The double-sign guard: a validator never signs two conflicting messages for one slot.

A slot is (height, round, step) with step propose < prevote < precommit.
``GuardedSigner`` keeps a ``SignState`` (the last slot signed, the exact
bytes signed, and the validator's lock) in an injected ``SignerStore``.

The WAL rule: before a vote or proposal leaves ``sign_vote`` /
``sign_proposal``, the new SignState has been saved durably
(``SignerStore.save`` returns only after a synced write). Therefore:
- crash before the save: nothing was signed, nothing was sent; after a
  restart the validator may sign that slot afresh.
- crash after the save, before or after sending: the record names the slot
  and its bytes; after a restart a request for the same slot with different
  bytes is refused (``DoubleSignRefused``, carrying the bytes signed before,
  so the caller may resend that message), and the same bytes are signed
  again (ed25519 is deterministic: the same signature).
A request for an earlier slot than the last one signed is refused too.

The lock (Alg.1 lockedValue / lockedRound) changes only when the validator
precommits a value (Alg.1 lines 36-43), so it is saved in the same record
as that precommit: a restarted validator resumes with its lock and cannot
be talked out of it without a newer proof-of-lock.

Determinism: the record's encoding is canonical (zonechain.vm.encoding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from zonechain.node.consensus.errors import DoubleSignRefused, SignerStateCorrupt
from zonechain.node.consensus.timeouts import Step
from zonechain.node.types.limits import HASH_BYTES
from zonechain.node.types.vote import Proposal, Vote, VoteType
from zonechain.vm.encoding import DecodeError, Reader, Writer

SIGN_STATE_VERSION: Final = 1
"""First byte of the record; bump when its layout changes."""

NODE_STORE_SIGN_STATE_KEY: Final = b"privval/last-signed"
"""The record's key among NodeStore's consensus records."""


class KeySigner(Protocol):
    """An ed25519 key (zonechain.node.crypto.PrivateKey), or a test double."""

    @property
    def address(self) -> bytes: ...

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class SignerStore(Protocol):
    """Durable storage of one small record. ``save`` returns after a synced write."""

    def load(self) -> bytes | None: ...

    def save(self, record: bytes) -> None: ...


class MemorySignerStore:
    """A SignerStore in memory: survives a simulated crash (the object outlives the core)."""

    def __init__(self) -> None:
        self.record: bytes | None = None
        self.saves = 0

    def load(self) -> bytes | None:
        return self.record

    def save(self, record: bytes) -> None:
        self.record = record
        self.saves += 1


class _ConsensusRecords(Protocol):
    def save_consensus(self, key: bytes, value: bytes) -> None: ...

    def load_consensus(self, key: bytes) -> bytes | None: ...


class NodeStoreSignerStore:
    """Adapter: a SignerStore over NodeStore's synced consensus records."""

    def __init__(self, store: _ConsensusRecords, key: bytes = NODE_STORE_SIGN_STATE_KEY) -> None:
        self._store = store
        self._key = key

    def load(self) -> bytes | None:
        return self._store.load_consensus(self._key)

    def save(self, record: bytes) -> None:
        self._store.save_consensus(self._key, record)


@dataclass(frozen=True, slots=True)
class SignState:
    """The last slot signed, what was signed, and the lock at that height."""

    height: int
    round: int
    step: Step
    block_hash: bytes | None
    signed: bytes
    """The encoded Vote or Proposal, signature included."""
    locked_round: int | None = None
    locked_hash: bytes | None = None

    @property
    def slot(self) -> tuple[int, int, int]:
        return (self.height, self.round, int(self.step))

    def encode(self) -> bytes:
        writer = Writer().u8(SIGN_STATE_VERSION).u64(self.height).u32(self.round)
        writer.u8(int(self.step)).optional(self.block_hash, _write_hash).bytes(self.signed)
        writer.optional(self.locked_round, Writer.u32)
        writer.optional(self.locked_hash, _write_hash)
        return bytes(writer)

    @classmethod
    def decode(cls, data: bytes) -> SignState:
        try:
            reader = Reader(data)
            version = reader.u8("version")
            if version != SIGN_STATE_VERSION:
                raise SignerStateCorrupt(f"unknown sign-state version {version}")
            state = cls(
                reader.u64("height"), reader.u32("round"), Step(reader.u8("step")),
                reader.optional(_read_hash, "block_hash"), reader.bytes("signed"),
                reader.optional(lambda r: r.u32("locked_round"), "locked_round"),
                reader.optional(_read_hash, "locked_hash"),
            )
            reader.finish("sign state")
        except (DecodeError, ValueError) as error:
            raise SignerStateCorrupt(f"last-signed record: {error}") from None
        return state


def _write_hash(writer: Writer, value: bytes) -> None:
    writer.fixed(value, HASH_BYTES)


def _read_hash(reader: Reader) -> bytes:
    return reader.fixed(HASH_BYTES, "hash")


_STEP_OF_VOTE: Final = {VoteType.PREVOTE: Step.PREVOTE, VoteType.PRECOMMIT: Step.PRECOMMIT}


class GuardedSigner:
    """Signs votes and proposals for one validator, never two for one slot."""

    def __init__(self, key: KeySigner, store: SignerStore) -> None:
        self._key = key
        self._store = store
        record = store.load()
        self._state: SignState | None = None if record is None else SignState.decode(record)

    @property
    def address(self) -> bytes:
        return self._key.address

    @property
    def state(self) -> SignState | None:
        """The last thing signed (restored from the store at construction)."""
        return self._state

    def sign_vote(
        self, vote_type: VoteType, chain_id: str, height: int, round: int,
        block_hash: bytes | None,
    ) -> Vote:
        message = Vote.signing_bytes_for(vote_type, chain_id, height, round, block_hash,
                                         self.address)
        step = _STEP_OF_VOTE[vote_type]
        lock = self._lock_after(height, round, step, block_hash)
        signature = self._sign(height, round, step, block_hash, message)
        vote = Vote(vote_type, chain_id, height, round, block_hash, self.address, signature)
        self._save(SignState(height, round, step, block_hash, vote.encode(), *lock))
        return vote

    def sign_proposal(
        self, chain_id: str, height: int, round: int, pol_round: int | None, block_hash: bytes
    ) -> Proposal:
        message = Proposal.signing_bytes_for(chain_id, height, round, pol_round, block_hash,
                                             self.address)
        lock = self._lock_after(height, round, Step.PROPOSE, block_hash)
        signature = self._sign(height, round, Step.PROPOSE, block_hash, message)
        proposal = Proposal(chain_id, height, round, pol_round, block_hash, self.address,
                            signature)
        self._save(SignState(height, round, Step.PROPOSE, block_hash, proposal.encode(), *lock))
        return proposal

    def _lock_after(
        self, height: int, round: int, step: Step, block_hash: bytes | None
    ) -> tuple[int | None, bytes | None]:
        if step == Step.PRECOMMIT and block_hash is not None:
            return (round, block_hash)  # Alg.1 lines 38-39: lock on the value precommitted
        previous = self._state
        if previous is None or previous.height != height:
            return (None, None)
        return (previous.locked_round, previous.locked_hash)

    def _sign(
        self, height: int, round: int, step: Step, block_hash: bytes | None, message: bytes
    ) -> bytes:
        """Check the slot against the last one signed, then sign (the caller saves first)."""
        previous = self._state
        slot = (height, round, int(step))
        if previous is not None and slot < previous.slot:
            raise DoubleSignRefused(
                f"slot {slot} is before the last signed slot {previous.slot}", None
            )
        if previous is not None and slot == previous.slot:
            same = previous.block_hash == block_hash and _unsigned(previous, step) == message
            if not same:
                raise DoubleSignRefused(
                    f"slot {slot} was already signed for another value", previous.signed
                )
        return self._key.sign(message)

    def _save(self, state: SignState) -> None:
        # WAL: durable before the signed message is returned (and so before it is sent).
        self._store.save(state.encode())
        self._state = state


def _unsigned(state: SignState, step: Step) -> bytes:
    """The bytes that were signed for ``state`` (its message without the signature)."""
    if step == Step.PROPOSE:
        return Proposal.decode(state.signed).signing_bytes()
    return Vote.decode(state.signed).signing_bytes()


class ConsensusSigner(Protocol):
    """What the state machine signs with: ``GuardedSigner`` (or, in simulations, a double)."""

    @property
    def address(self) -> bytes: ...

    @property
    def state(self) -> SignState | None: ...

    def sign_vote(
        self, vote_type: VoteType, chain_id: str, height: int, round: int,
        block_hash: bytes | None,
    ) -> Vote: ...

    def sign_proposal(
        self, chain_id: str, height: int, round: int, pol_round: int | None, block_hash: bytes
    ) -> Proposal: ...
