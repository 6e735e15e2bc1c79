"""Consensus votes (prevote / precommit) and block proposals, with their signed bytes.

    Vote      type (1 prevote, 2 precommit), chain_id, height, round,
              block_hash (32 bytes, or absent for a nil vote), validator
              (20-byte address), signature
    Proposal  chain_id, height, round, pol_round (optional), block_hash,
              proposer (20-byte address), signature

A validator signs ``b"zonechain/vote/v1"`` + the canonical vote WITHOUT the
signature (``Vote.signing_bytes``), and ``b"zonechain/proposal/v1"`` + the
canonical proposal without the signature. The chain id is inside, so a vote
can never count on another chain. ``Vote.hash`` (over the full vote, signature
included) orders the two votes of equivocation evidence.

Determinism: only canonical bytes are signed or hashed; see docs/PROTOCOL.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from zonechain.node.types._codec import (
    check_size,
    check_u32,
    check_u64,
    decode_message,
)
from zonechain.node.types.errors import MalformedMessage, MessageTooLarge
from zonechain.node.types.hashing import (
    PROPOSAL_HASH_DOMAIN,
    PROPOSAL_SIGNING_DOMAIN,
    VOTE_HASH_DOMAIN,
    VOTE_SIGNING_DOMAIN,
    domain_hash,
)
from zonechain.node.types.limits import CONSENSUS_MESSAGE_BYTES_MAX, HASH_BYTES, SIGNATURE_BYTES
from zonechain.node.types.transaction import check_chain_id
from zonechain.proto import types_pb2
from zonechain.vm.encoding import DecodeError, Reader, Writer
from zonechain.vm.state import ADDRESS_BYTES


class VoteType(IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2


_VOTE_TYPE_TO_PROTO: dict[VoteType, types_pb2.VoteType] = {
    VoteType.PREVOTE: types_pb2.VOTE_TYPE_PREVOTE,
    VoteType.PRECOMMIT: types_pb2.VOTE_TYPE_PRECOMMIT,
}


def _write_hash(writer: Writer, value: bytes) -> None:
    writer.fixed(value, HASH_BYTES)


def _check_vote_type(value: int) -> VoteType:
    try:
        return VoteType(value)
    except ValueError:
        raise MalformedMessage("vote.type", f"must be 1 (prevote) or 2 (precommit), got {value}")\
            from None


@dataclass(frozen=True, slots=True)
class Vote:
    """A signed prevote or precommit for ``block_hash`` (None: nil) at (height, round)."""

    type: VoteType
    chain_id: str
    height: int
    round: int
    block_hash: bytes | None
    validator: bytes
    signature: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", _check_vote_type(self.type))
        check_chain_id("vote.chain_id", self.chain_id)
        check_u64("vote.height", self.height)
        check_u32("vote.round", self.round)
        if self.block_hash is not None:
            check_size("vote.block_hash", self.block_hash, HASH_BYTES)
        check_size("vote.validator", self.validator, ADDRESS_BYTES)
        check_size("vote.signature", self.signature, SIGNATURE_BYTES)

    @staticmethod
    def signing_bytes_for(
        vote_type: VoteType, chain_id: str, height: int, round: int,
        block_hash: bytes | None, validator: bytes,
    ) -> bytes:
        """b"zonechain/vote/v1" + the canonical unsigned vote (fields as in the class)."""
        writer = Writer().u8(int(vote_type)).string(chain_id).u64(height).u32(round)
        writer.optional(block_hash, _write_hash).fixed(validator, ADDRESS_BYTES)
        return VOTE_SIGNING_DOMAIN + bytes(writer)

    def signing_bytes(self) -> bytes:
        return Vote.signing_bytes_for(
            self.type, self.chain_id, self.height, self.round, self.block_hash, self.validator
        )

    def write(self, writer: Writer) -> None:
        writer.u8(int(self.type)).string(self.chain_id).u64(self.height).u32(self.round)
        writer.optional(self.block_hash, _write_hash).fixed(self.validator, ADDRESS_BYTES)
        writer.fixed(self.signature, SIGNATURE_BYTES)

    def encode(self) -> bytes:
        writer = Writer()
        self.write(writer)
        return bytes(writer)

    @property
    def hash(self) -> bytes:
        return domain_hash(VOTE_HASH_DOMAIN, self.encode())

    @classmethod
    def read(cls, reader: Reader) -> Vote:
        start = reader.offset
        raw_type = reader.u8("vote.type")
        if raw_type not in (VoteType.PREVOTE, VoteType.PRECOMMIT):
            raise DecodeError(f"vote.type: unknown vote type {raw_type}", start)
        return cls(
            VoteType(raw_type),
            reader.string("vote.chain_id"),
            reader.u64("vote.height"),
            reader.u32("vote.round"),
            reader.optional(lambda r: r.fixed(HASH_BYTES, "vote.block_hash"), "vote.block_hash"),
            reader.fixed(ADDRESS_BYTES, "vote.validator"),
            reader.fixed(SIGNATURE_BYTES, "vote.signature"),
        )

    @classmethod
    def decode(cls, data: bytes) -> Vote:
        return decode_message(data, "vote", CONSENSUS_MESSAGE_BYTES_MAX, cls.read)

    def to_proto(self) -> types_pb2.Vote:
        message = types_pb2.Vote(
            type=_VOTE_TYPE_TO_PROTO[self.type], chain_id=self.chain_id,
            height=self.height, round=self.round, validator=self.validator,
            signature=self.signature,
        )
        if self.block_hash is not None:
            message.block_hash = self.block_hash
        return message

    @classmethod
    def from_proto(cls, message: types_pb2.Vote) -> Vote:
        _check_proto_size("vote", message.ByteSize())
        block_hash = message.block_hash if message.HasField("block_hash") else None
        return cls(
            _check_vote_type(int(message.type)), message.chain_id, message.height,
            message.round, block_hash, message.validator, message.signature,
        )


def _check_proto_size(what: str, size: int) -> None:
    if size > CONSENSUS_MESSAGE_BYTES_MAX:
        raise MessageTooLarge(what, size, CONSENSUS_MESSAGE_BYTES_MAX)


@dataclass(frozen=True, slots=True)
class Proposal:
    """The proposer's signed proposal of ``block_hash`` at (height, round)."""

    chain_id: str
    height: int
    round: int
    pol_round: int | None
    block_hash: bytes
    proposer: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_chain_id("proposal.chain_id", self.chain_id)
        check_u64("proposal.height", self.height)
        check_u32("proposal.round", self.round)
        if self.pol_round is not None:
            check_u32("proposal.pol_round", self.pol_round)
            if self.pol_round >= self.round:
                raise MalformedMessage("proposal.pol_round", "must be smaller than round")
        check_size("proposal.block_hash", self.block_hash, HASH_BYTES)
        check_size("proposal.proposer", self.proposer, ADDRESS_BYTES)
        check_size("proposal.signature", self.signature, SIGNATURE_BYTES)

    @staticmethod
    def signing_bytes_for(
        chain_id: str, height: int, round: int, pol_round: int | None,
        block_hash: bytes, proposer: bytes,
    ) -> bytes:
        """b"zonechain/proposal/v1" + the canonical unsigned proposal."""
        writer = Writer().string(chain_id).u64(height).u32(round)
        writer.optional(pol_round, Writer.u32).fixed(block_hash, HASH_BYTES)
        writer.fixed(proposer, ADDRESS_BYTES)
        return PROPOSAL_SIGNING_DOMAIN + bytes(writer)

    def signing_bytes(self) -> bytes:
        return Proposal.signing_bytes_for(
            self.chain_id, self.height, self.round, self.pol_round, self.block_hash,
            self.proposer,
        )

    def encode(self) -> bytes:
        unsigned = self.signing_bytes()[len(PROPOSAL_SIGNING_DOMAIN):]
        return unsigned + self.signature

    @property
    def hash(self) -> bytes:
        return domain_hash(PROPOSAL_HASH_DOMAIN, self.encode())

    @classmethod
    def read(cls, reader: Reader) -> Proposal:
        return cls(
            reader.string("proposal.chain_id"),
            reader.u64("proposal.height"),
            reader.u32("proposal.round"),
            reader.optional(lambda r: r.u32("proposal.pol_round"), "proposal.pol_round"),
            reader.fixed(HASH_BYTES, "proposal.block_hash"),
            reader.fixed(ADDRESS_BYTES, "proposal.proposer"),
            reader.fixed(SIGNATURE_BYTES, "proposal.signature"),
        )

    @classmethod
    def decode(cls, data: bytes) -> Proposal:
        return decode_message(data, "proposal", CONSENSUS_MESSAGE_BYTES_MAX, cls.read)

    def to_proto(self) -> types_pb2.Proposal:
        message = types_pb2.Proposal(
            chain_id=self.chain_id, height=self.height, round=self.round,
            block_hash=self.block_hash, proposer=self.proposer, signature=self.signature,
        )
        if self.pol_round is not None:
            message.pol_round = self.pol_round
        return message

    @classmethod
    def from_proto(cls, message: types_pb2.Proposal) -> Proposal:
        _check_proto_size("proposal", message.ByteSize())
        pol_round = message.pol_round if message.HasField("pol_round") else None
        return cls(
            message.chain_id, message.height, message.round, pol_round,
            message.block_hash, message.proposer, message.signature,
        )
