"""Commit certificates: the precommit signatures (2f+1 by voting power) that commit a block.

    CommitSignature  validator (20-byte address), signature (64 bytes)
    Commit           height, round, block_hash, signatures

Each signature is over the precommit vote ``Vote(PRECOMMIT, chain_id, height,
round, block_hash, validator)``; ``Commit.precommit_vote`` rebuilds that vote
so a checker verifies it with the ordinary vote rules. Signatures are sorted
by validator address, strictly (no duplicates), so one set of signatures has
exactly one encoding and one ``Commit.hash``. Whether the signers reach 2f+1
of the validator set is the consensus module's check, not this type's.

Determinism: canonical bytes only; the order of signatures is by address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from zonechain.node.types._codec import (
    check_count,
    check_size,
    check_u32,
    check_u64,
    decode_message,
    read_bounded_list,
)
from zonechain.node.types.errors import MalformedMessage, MessageTooLarge
from zonechain.node.types.hashing import COMMIT_HASH_DOMAIN, domain_hash
from zonechain.node.types.limits import (
    CONSENSUS_MESSAGE_BYTES_MAX,
    HASH_BYTES,
    SIGNATURE_BYTES,
    VALIDATORS_MAX,
)
from zonechain.node.types.vote import Vote, VoteType
from zonechain.proto import types_pb2
from zonechain.vm.encoding import Reader, Writer
from zonechain.vm.state import ADDRESS_BYTES


@dataclass(frozen=True, slots=True)
class CommitSignature:
    """One validator's precommit signature inside a commit certificate."""

    validator: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_size("validator", self.validator, ADDRESS_BYTES)
        check_size("signature", self.signature, SIGNATURE_BYTES)

    def write(self, writer: Writer) -> None:
        writer.fixed(self.validator, ADDRESS_BYTES).fixed(self.signature, SIGNATURE_BYTES)

    @classmethod
    def read(cls, reader: Reader) -> CommitSignature:
        return cls(
            reader.fixed(ADDRESS_BYTES, "commit.signatures.validator"),
            reader.fixed(SIGNATURE_BYTES, "commit.signatures.signature"),
        )


@dataclass(frozen=True, slots=True)
class Commit:
    """The certificate committing ``block_hash`` at (height, round)."""

    height: int
    round: int
    block_hash: bytes
    signatures: tuple[CommitSignature, ...]
    _hash: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_u64("commit.height", self.height)
        check_u32("commit.round", self.round)
        check_size("commit.block_hash", self.block_hash, HASH_BYTES)
        object.__setattr__(self, "signatures", tuple(self.signatures))
        if not self.signatures:
            raise MalformedMessage("commit.signatures", "must not be empty")
        check_count("commit.signatures", len(self.signatures), VALIDATORS_MAX)
        for before, after in zip(self.signatures, self.signatures[1:], strict=False):
            if before.validator >= after.validator:
                raise MalformedMessage(
                    "commit.signatures", "must be sorted by validator address, without repeats"
                )

    @classmethod
    def from_signatures(
        cls, height: int, round: int, block_hash: bytes, signatures: Iterable[CommitSignature]
    ) -> Commit:
        """A commit with ``signatures`` put in canonical (address) order."""
        ordered = tuple(sorted(signatures, key=lambda s: s.validator))
        return cls(height, round, block_hash, ordered)

    def precommit_vote(self, chain_id: str, signature: CommitSignature) -> Vote:
        """The precommit that ``signature`` signed: verify it like any vote."""
        return Vote(
            VoteType.PRECOMMIT, chain_id, self.height, self.round, self.block_hash,
            signature.validator, signature.signature,
        )

    def write(self, writer: Writer) -> None:
        writer.u64(self.height).u32(self.round).fixed(self.block_hash, HASH_BYTES)
        writer.list(self.signatures, lambda w, s: s.write(w))

    def encode(self) -> bytes:
        writer = Writer()
        self.write(writer)
        return bytes(writer)

    @property
    def hash(self) -> bytes:
        """sha256(b"zonechain/commit/v1" + canonical bytes); the next header's last_commit_hash."""
        if self._hash is None:
            object.__setattr__(self, "_hash", domain_hash(COMMIT_HASH_DOMAIN, self.encode()))
        assert self._hash is not None
        return self._hash

    @classmethod
    def read(cls, reader: Reader) -> Commit:
        height = reader.u64("commit.height")
        round_ = reader.u32("commit.round")
        block_hash = reader.fixed(HASH_BYTES, "commit.block_hash")
        signatures = read_bounded_list(
            reader, CommitSignature.read, "commit.signatures", VALIDATORS_MAX
        )
        return cls(height, round_, block_hash, tuple(signatures))

    @classmethod
    def decode(cls, data: bytes) -> Commit:
        return decode_message(data, "commit", CONSENSUS_MESSAGE_BYTES_MAX, cls.read)

    def to_proto(self) -> types_pb2.CommitCertificate:
        return types_pb2.CommitCertificate(
            height=self.height, round=self.round, block_hash=self.block_hash,
            signatures=[
                types_pb2.CommitSignature(validator=s.validator, signature=s.signature)
                for s in self.signatures
            ],
        )

    @classmethod
    def from_proto(cls, message: types_pb2.CommitCertificate) -> Commit:
        size = message.ByteSize()
        if size > CONSENSUS_MESSAGE_BYTES_MAX:
            raise MessageTooLarge("commit", size, CONSENSUS_MESSAGE_BYTES_MAX)
        signatures: list[CommitSignature] = []
        for index, item in enumerate(message.signatures):
            try:
                signatures.append(CommitSignature(item.validator, item.signature))
            except MalformedMessage as error:
                raise error.within(f"commit.signatures[{index}]") from None
        return cls(message.height, message.round, message.block_hash, tuple(signatures))
