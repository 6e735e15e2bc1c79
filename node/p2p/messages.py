"""What peers send each other, as typed values, and their wire (protobuf) form.

    ProposalMessage       a signed proposal and the block it proposes
    VoteMessage           a signed prevote or precommit
    TransactionsMessage   a batch of signed transactions (gossip)

ProposalMessage and VoteMessage ARE consensus's own event types
(zonechain.node.consensus.events), so what the inbox receives can be handed to
``ConsensusRunner.handle`` unchanged, and ``PeerTransport.broadcast`` accepts
what consensus broadcasts.

``decode_consensus`` and ``decode_transactions`` turn received protobuf into
these with the types' ``from_proto`` and raise only ``MalformedMessage``
(MessageTooLarge included); the server answers that with INVALID_ARGUMENT.
Signatures are NOT checked here: the receiver (consensus, mempool) does,
because only it knows the validator set and the current height.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from zonechain.node.consensus.events import ProposalMessage, VoteMessage
from zonechain.node.tls import PeerIdentity
from zonechain.node.types.block import Block
from zonechain.node.types.errors import MalformedMessage
from zonechain.node.types.limits import BLOCK_TXS_MAX
from zonechain.node.types.transaction import SignedTransaction
from zonechain.node.types.vote import Proposal, Vote
from zonechain.proto import services_pb2

__all__ = [
    "GOSSIP_BATCH_TXS_MAX",
    "ConsensusPayload",
    "Inbox",
    "PeerMessage",
    "ProposalMessage",
    "TransactionsMessage",
    "VoteMessage",
    "decode_consensus",
    "decode_transactions",
    "encode_consensus",
    "encode_transactions",
]

GOSSIP_BATCH_TXS_MAX: Final = BLOCK_TXS_MAX
"""Transactions per gossip batch: never more than one block's worth."""


@dataclass(frozen=True, slots=True)
class TransactionsMessage:
    txs: tuple[SignedTransaction, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.txs) <= GOSSIP_BATCH_TXS_MAX:
            raise MalformedMessage("batch.txs", f"must hold 1..{GOSSIP_BATCH_TXS_MAX} txs")


ConsensusPayload = ProposalMessage | VoteMessage
PeerMessage = ProposalMessage | VoteMessage | TransactionsMessage

Inbox = Callable[[PeerIdentity, PeerMessage], None]
"""Receives every decoded message with the authenticated sender. It runs on a
transport thread and should only enqueue: while it blocks, that peer's
stream (and through HTTP/2 flow control, the peer) waits."""


def encode_consensus(message: ConsensusPayload) -> services_pb2.ConsensusMessage:
    if isinstance(message, VoteMessage):
        return services_pb2.ConsensusMessage(vote=message.vote.to_proto())
    return services_pb2.ConsensusMessage(proposal=services_pb2.ProposalMessage(
        proposal=message.proposal.to_proto(), block=message.block.to_proto()))


def encode_transactions(message: TransactionsMessage) -> services_pb2.TransactionBatch:
    return services_pb2.TransactionBatch(txs=[tx.to_proto() for tx in message.txs])


def decode_consensus(message: services_pb2.ConsensusMessage) -> ConsensusPayload:
    kind = message.WhichOneof("message")
    if kind == "vote":
        return VoteMessage(Vote.from_proto(message.vote))
    if kind != "proposal":
        raise MalformedMessage("consensus.message", "neither a proposal nor a vote")
    wire = message.proposal
    if not wire.HasField("proposal") or not wire.HasField("block"):
        raise MalformedMessage("consensus.proposal", "needs both proposal and block")
    try:
        proposal = Proposal.from_proto(wire.proposal)
        block = Block.from_proto(wire.block)
    except MalformedMessage as error:
        raise error.within("consensus.proposal") from None
    if block.hash != proposal.block_hash:
        raise MalformedMessage("consensus.proposal.block", "hash differs from the proposal's")
    return ProposalMessage(proposal, block)


def decode_transactions(message: services_pb2.TransactionBatch) -> TransactionsMessage:
    if not 1 <= len(message.txs) <= GOSSIP_BATCH_TXS_MAX:
        raise MalformedMessage("batch.txs", f"must hold 1..{GOSSIP_BATCH_TXS_MAX} txs")
    txs: list[SignedTransaction] = []
    for index, wire in enumerate(message.txs):
        try:
            txs.append(SignedTransaction.from_proto(wire))
        except MalformedMessage as error:
            raise error.within(f"batch.txs[{index}]") from None
    return TransactionsMessage(tuple(txs))
