"""The protocol's data types: immutable, validated, with one canonical encoding each.

Every type here is a frozen dataclass (slots) whose constructor checks sizes
and ranges, and which offers:

    encode() -> bytes          canonical bytes (vm/encoding.py), the ONLY form hashed or signed
    Type.decode(bytes)         strict: DecodeError naming the field, MessageTooLarge if oversized
    .hash                      sha256(per-type domain + canonical bytes)
    to_proto() / Type.from_proto(message)
                               the gRPC transport form; from_proto raises MalformedMessage
                               (or MessageTooLarge), never a raw protobuf/KeyError/ValueError

Types (one module each):
    transaction  Transaction, SignedTransaction (``.hash`` = the tx id),
                 DeployPayload, CallPayload, GovernancePayload
    block        BlockHeader (``.hash`` = block hash), Block, tx_root, receipts_root,
                 evidence_root, last_commit_hash
    vote         Vote, VoteType, Proposal
    commit       Commit, CommitSignature
    evidence     DuplicateVoteEvidence (= Evidence)
    receipt      Receipt, ReceiptStatus, Event
    address      account_address, contract_address, format_address, parse_address
    hashing      domains, domain_hash, merkle_root, merkle_proof, verify_merkle_proof
    limits       every size limit (TX_BYTES_MAX, BLOCK_BYTES_MAX, BLOCK_TXS_MAX, ...)
    errors       MalformedMessage, MessageTooLarge, InvalidAddress, DecodeError

Signing and verification live in zonechain.node.crypto. The byte-level
definitions and test vectors are in docs/PROTOCOL.md.
"""

from __future__ import annotations

from zonechain.node.types.address import (
    account_address,
    contract_address,
    format_address,
    parse_address,
)
from zonechain.node.types.block import (
    Block,
    BlockHeader,
    evidence_root,
    last_commit_hash,
    receipts_root,
    tx_root,
)
from zonechain.node.types.commit import Commit, CommitSignature
from zonechain.node.types.errors import (
    DecodeError,
    InvalidAddress,
    MalformedMessage,
    MessageTooLarge,
)
from zonechain.node.types.evidence import DuplicateVoteEvidence, Evidence
from zonechain.node.types.hashing import ZERO_HASH, merkle_root
from zonechain.node.types.receipt import Event, Receipt, ReceiptStatus
from zonechain.node.types.transaction import (
    CallPayload,
    DeployPayload,
    GovernancePayload,
    Payload,
    SignedTransaction,
    Transaction,
)
from zonechain.node.types.vote import Proposal, Vote, VoteType

__all__ = [
    "ZERO_HASH",
    "Block",
    "BlockHeader",
    "CallPayload",
    "Commit",
    "CommitSignature",
    "DecodeError",
    "DeployPayload",
    "DuplicateVoteEvidence",
    "Event",
    "Evidence",
    "GovernancePayload",
    "InvalidAddress",
    "MalformedMessage",
    "MessageTooLarge",
    "Payload",
    "Proposal",
    "Receipt",
    "ReceiptStatus",
    "SignedTransaction",
    "Transaction",
    "Vote",
    "VoteType",
    "account_address",
    "contract_address",
    "evidence_root",
    "format_address",
    "last_commit_hash",
    "merkle_root",
    "parse_address",
    "receipts_root",
    "tx_root",
]
