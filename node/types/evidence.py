"""Evidence of misbehaviour kept in blocks. One kind so far: a duplicate vote.

    DuplicateVoteEvidence  vote_a, vote_b: two votes by one validator, same
                           chain, height, round and type, for different block
                           hashes (nil counts as a value), with
                           vote_a.hash < vote_b.hash

The ordering rule gives one equivocation exactly one encoding and one hash
(``from_votes`` orders for you). Signatures are not checked here: the
consensus module verifies both votes against the validator's key before
accepting evidence.

Canonical encoding: u8 kind (1 = duplicate vote), then the two votes.

Determinism: canonical bytes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from zonechain.node.types._codec import decode_message, from_proto_field
from zonechain.node.types.errors import MalformedMessage, MessageTooLarge
from zonechain.node.types.hashing import EVIDENCE_HASH_DOMAIN, domain_hash
from zonechain.node.types.limits import CONSENSUS_MESSAGE_BYTES_MAX
from zonechain.node.types.vote import Vote
from zonechain.proto import types_pb2
from zonechain.vm.encoding import DecodeError, Reader, Writer


@dataclass(frozen=True, slots=True)
class DuplicateVoteEvidence:
    """Two conflicting votes signed by one validator."""

    KIND: ClassVar[int] = 1
    vote_a: Vote
    vote_b: Vote

    def __post_init__(self) -> None:
        a, b = self.vote_a, self.vote_b
        same_slot = (a.validator, a.chain_id, a.height, a.round, a.type) == (
            b.validator, b.chain_id, b.height, b.round, b.type
        )
        if not same_slot:
            raise MalformedMessage(
                "evidence", "votes must share validator, chain, height, round and type"
            )
        if a.block_hash == b.block_hash:
            raise MalformedMessage("evidence", "votes must be for different blocks")
        if not a.hash < b.hash:
            raise MalformedMessage("evidence", "vote_a.hash must be smaller than vote_b.hash")

    @classmethod
    def from_votes(cls, first: Vote, second: Vote) -> DuplicateVoteEvidence:
        """Evidence from two conflicting votes, in canonical order."""
        if second.hash < first.hash:
            first, second = second, first
        return cls(first, second)

    @property
    def validator(self) -> bytes:
        return self.vote_a.validator

    @property
    def height(self) -> int:
        return self.vote_a.height

    def write(self, writer: Writer) -> None:
        writer.u8(self.KIND)
        self.vote_a.write(writer)
        self.vote_b.write(writer)

    def encode(self) -> bytes:
        writer = Writer()
        self.write(writer)
        return bytes(writer)

    @property
    def hash(self) -> bytes:
        return domain_hash(EVIDENCE_HASH_DOMAIN, self.encode())

    @classmethod
    def read(cls, reader: Reader) -> DuplicateVoteEvidence:
        start = reader.offset
        kind = reader.u8("evidence.kind")
        if kind != cls.KIND:
            raise DecodeError(f"evidence.kind: unknown evidence kind {kind}", start)
        return cls(Vote.read(reader), Vote.read(reader))

    @classmethod
    def decode(cls, data: bytes) -> DuplicateVoteEvidence:
        return decode_message(data, "evidence", CONSENSUS_MESSAGE_BYTES_MAX, cls.read)

    def to_proto(self) -> types_pb2.Evidence:
        return types_pb2.Evidence(
            duplicate_vote=types_pb2.DuplicateVoteEvidence(
                vote_a=self.vote_a.to_proto(), vote_b=self.vote_b.to_proto()
            )
        )

    @classmethod
    def from_proto(cls, message: types_pb2.Evidence) -> DuplicateVoteEvidence:
        size = message.ByteSize()
        if size > CONSENSUS_MESSAGE_BYTES_MAX:
            raise MessageTooLarge("evidence", size, CONSENSUS_MESSAGE_BYTES_MAX)
        if message.WhichOneof("kind") != "duplicate_vote":
            raise MalformedMessage("evidence.kind", "missing (duplicate_vote)")
        inner = message.duplicate_vote
        if not inner.HasField("vote_a") or not inner.HasField("vote_b"):
            raise MalformedMessage("evidence", "both votes are required")
        vote_a = from_proto_field("evidence.vote_a", lambda: Vote.from_proto(inner.vote_a))
        vote_b = from_proto_field("evidence.vote_b", lambda: Vote.from_proto(inner.vote_b))
        return cls(vote_a, vote_b)


Evidence = DuplicateVoteEvidence
"""Every kind of evidence a block may hold (a union once there is more than one)."""
