"""Block headers and blocks. A block's hash is its header's hash.

    BlockHeader  chain_id, height (>= 1), time_ms, previous_block_hash,
                 tx_root, last_state_root, last_receipts_root,
                 last_commit_hash, validator_set_hash, evidence_root, proposer
    Block        header, txs, last_commit (absent at height 1), evidence

The header commits to everything in the block: ``tx_root`` is the Merkle root
of the transaction ids (``SignedTransaction.hash``) in block order,
``last_commit_hash`` is ``Commit.hash`` of ``last_commit`` (ZERO_HASH when
absent), ``evidence_root`` is the Merkle root of the evidence hashes.

State-root rule ("last state root", as Tendermint's app hash): the header at
height H carries the state root and the receipts root AFTER executing block
H-1 (for H = 1: the genesis state root and the root of no receipts). A
proposer therefore proposes without executing first, and every validator
executes a block once, after it is committed. A client proves a value as of
height H with the header of H+1 and its commit certificate. See
docs/PROTOCOL.md.

``decode`` / ``from_proto`` check structure and size only;
``Block.check_contents()`` checks the header's roots against the body (the
consensus module calls it on every proposal and synced block).

Determinism: canonical bytes only; the tx order is the proposer's and is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from zonechain.node.types._codec import (
    check_count,
    check_size,
    check_u64,
    decode_message,
    from_proto_field,
    read_bounded_list,
)
from zonechain.node.types.commit import Commit
from zonechain.node.types.errors import MalformedMessage, MessageTooLarge
from zonechain.node.types.evidence import DuplicateVoteEvidence
from zonechain.node.types.hashing import BLOCK_HASH_DOMAIN, ZERO_HASH, domain_hash, merkle_root
from zonechain.node.types.limits import (
    BLOCK_BYTES_MAX,
    BLOCK_EVIDENCE_MAX,
    BLOCK_TXS_MAX,
    CONSENSUS_MESSAGE_BYTES_MAX,
    HASH_BYTES,
)
from zonechain.node.types.receipt import Receipt
from zonechain.node.types.transaction import SignedTransaction, check_chain_id
from zonechain.proto import types_pb2
from zonechain.vm.encoding import Reader, Writer
from zonechain.vm.state import ADDRESS_BYTES

_HASH_FIELDS = (
    "previous_block_hash", "tx_root", "last_state_root", "last_receipts_root",
    "last_commit_hash", "validator_set_hash", "evidence_root",
)


def tx_root(txs: Sequence[SignedTransaction]) -> bytes:
    """Merkle root of the transaction ids, in block order."""
    return merkle_root([tx.hash for tx in txs])


def receipts_root(receipts: Sequence[Receipt]) -> bytes:
    """Merkle root of the receipt hashes, in transaction order."""
    return merkle_root([receipt.hash for receipt in receipts])


def evidence_root(evidence: Sequence[DuplicateVoteEvidence]) -> bytes:
    """Merkle root of the evidence hashes, in block order."""
    return merkle_root([item.hash for item in evidence])


def last_commit_hash(commit: Commit | None) -> bytes:
    """``commit.hash``, or ZERO_HASH when there is no last commit (height 1)."""
    return ZERO_HASH if commit is None else commit.hash


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """The signed-over summary of a block; see the module docstring for each root."""

    chain_id: str
    height: int
    time_ms: int
    previous_block_hash: bytes
    tx_root: bytes
    last_state_root: bytes
    last_receipts_root: bytes
    last_commit_hash: bytes
    validator_set_hash: bytes
    evidence_root: bytes
    proposer: bytes
    _hash: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_chain_id("header.chain_id", self.chain_id)
        check_u64("header.height", self.height)
        if self.height < 1:
            raise MalformedMessage("header.height", "must be at least 1")
        check_u64("header.time_ms", self.time_ms)
        for name in _HASH_FIELDS:
            check_size(f"header.{name}", getattr(self, name), HASH_BYTES)
        check_size("header.proposer", self.proposer, ADDRESS_BYTES)

    def write(self, writer: Writer) -> None:
        writer.string(self.chain_id).u64(self.height).u64(self.time_ms)
        for name in _HASH_FIELDS:
            writer.fixed(getattr(self, name), HASH_BYTES)
        writer.fixed(self.proposer, ADDRESS_BYTES)

    def encode(self) -> bytes:
        writer = Writer()
        self.write(writer)
        return bytes(writer)

    @property
    def hash(self) -> bytes:
        """The block hash: sha256(b"zonechain/block/v1" + canonical header)."""
        if self._hash is None:
            object.__setattr__(self, "_hash", domain_hash(BLOCK_HASH_DOMAIN, self.encode()))
        assert self._hash is not None
        return self._hash

    @classmethod
    def read(cls, reader: Reader) -> BlockHeader:
        chain_id = reader.string("header.chain_id")
        height = reader.u64("header.height")
        time_ms = reader.u64("header.time_ms")
        hashes = {name: reader.fixed(HASH_BYTES, f"header.{name}") for name in _HASH_FIELDS}
        proposer = reader.fixed(ADDRESS_BYTES, "header.proposer")
        return cls._from_fields(chain_id, height, time_ms, hashes, proposer)

    @classmethod
    def _from_fields(
        cls, chain_id: str, height: int, time_ms: int, hashes: dict[str, bytes], proposer: bytes
    ) -> BlockHeader:
        return cls(
            chain_id=chain_id, height=height, time_ms=time_ms,
            previous_block_hash=hashes["previous_block_hash"], tx_root=hashes["tx_root"],
            last_state_root=hashes["last_state_root"],
            last_receipts_root=hashes["last_receipts_root"],
            last_commit_hash=hashes["last_commit_hash"],
            validator_set_hash=hashes["validator_set_hash"],
            evidence_root=hashes["evidence_root"], proposer=proposer,
        )

    @classmethod
    def decode(cls, data: bytes) -> BlockHeader:
        return decode_message(data, "header", CONSENSUS_MESSAGE_BYTES_MAX, cls.read)

    def to_proto(self) -> types_pb2.BlockHeader:
        return types_pb2.BlockHeader(
            chain_id=self.chain_id, height=self.height, time_ms=self.time_ms,
            proposer=self.proposer, **{name: getattr(self, name) for name in _HASH_FIELDS},
        )

    @classmethod
    def from_proto(cls, message: types_pb2.BlockHeader) -> BlockHeader:
        hashes: dict[str, bytes] = {name: getattr(message, name) for name in _HASH_FIELDS}
        return cls._from_fields(
            message.chain_id, message.height, message.time_ms, hashes, message.proposer
        )


@dataclass(frozen=True, slots=True)
class Block:
    """A header, its transactions, the previous block's commit and evidence."""

    header: BlockHeader
    txs: tuple[SignedTransaction, ...]
    last_commit: Commit | None
    evidence: tuple[DuplicateVoteEvidence, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "txs", tuple(self.txs))
        object.__setattr__(self, "evidence", tuple(self.evidence))
        check_count("block.txs", len(self.txs), BLOCK_TXS_MAX)
        check_count("block.evidence", len(self.evidence), BLOCK_EVIDENCE_MAX)

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def height(self) -> int:
        return self.header.height

    def check_contents(self) -> None:
        """Raise MalformedMessage unless the header's roots match the body."""
        header = self.header
        if (self.last_commit is None) != (header.height == 1):
            raise MalformedMessage("block.last_commit", "required exactly when height > 1")
        if self.last_commit is not None and self.last_commit.height != header.height - 1:
            raise MalformedMessage("block.last_commit.height", "must be the previous height")
        if header.last_commit_hash != last_commit_hash(self.last_commit):
            raise MalformedMessage("header.last_commit_hash", "does not match last_commit")
        if header.tx_root != tx_root(self.txs):
            raise MalformedMessage("header.tx_root", "does not match the transactions")
        if header.evidence_root != evidence_root(self.evidence):
            raise MalformedMessage("header.evidence_root", "does not match the evidence")

    def write(self, writer: Writer) -> None:
        self.header.write(writer)
        writer.list(self.txs, lambda w, tx: tx.write(w))
        writer.optional(self.last_commit, lambda w, c: c.write(w))
        writer.list(self.evidence, lambda w, e: e.write(w))

    def encode(self) -> bytes:
        writer = Writer()
        self.write(writer)
        return bytes(writer)

    @classmethod
    def read(cls, reader: Reader) -> Block:
        header = BlockHeader.read(reader)
        txs = read_bounded_list(reader, SignedTransaction.read, "block.txs", BLOCK_TXS_MAX)
        last_commit = reader.optional(Commit.read, "block.last_commit")
        evidence = read_bounded_list(
            reader, DuplicateVoteEvidence.read, "block.evidence", BLOCK_EVIDENCE_MAX
        )
        return cls(header, tuple(txs), last_commit, tuple(evidence))

    @classmethod
    def decode(cls, data: bytes) -> Block:
        return decode_message(data, "block", BLOCK_BYTES_MAX, cls.read)

    def to_proto(self) -> types_pb2.Block:
        message = types_pb2.Block(
            header=self.header.to_proto(),
            txs=[tx.to_proto() for tx in self.txs],
            evidence=[item.to_proto() for item in self.evidence],
        )
        if self.last_commit is not None:
            message.last_commit.CopyFrom(self.last_commit.to_proto())
        return message

    @classmethod
    def from_proto(cls, message: types_pb2.Block) -> Block:
        size = message.ByteSize()
        if size > BLOCK_BYTES_MAX:
            raise MessageTooLarge("block", size, BLOCK_BYTES_MAX)
        check_count("block.txs", len(message.txs), BLOCK_TXS_MAX)
        check_count("block.evidence", len(message.evidence), BLOCK_EVIDENCE_MAX)
        if not message.HasField("header"):
            raise MalformedMessage("block.header", "missing")
        header = from_proto_field("block", lambda: BlockHeader.from_proto(message.header))
        txs = tuple(_signed_tx_from_proto(i, m) for i, m in enumerate(message.txs))
        last_commit = None
        if message.HasField("last_commit"):
            last_commit = from_proto_field(
                "block", lambda: Commit.from_proto(message.last_commit)
            )
        evidence = tuple(_evidence_from_proto(i, m) for i, m in enumerate(message.evidence))
        return cls(header, txs, last_commit, evidence)


def _signed_tx_from_proto(index: int, message: types_pb2.SignedTransaction) -> SignedTransaction:
    return from_proto_field(f"block.txs[{index}]", lambda: SignedTransaction.from_proto(message))


def _evidence_from_proto(index: int, message: types_pb2.Evidence) -> DuplicateVoteEvidence:
    return from_proto_field(
        f"block.evidence[{index}]", lambda: DuplicateVoteEvidence.from_proto(message)
    )
