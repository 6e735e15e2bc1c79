"""What goes into the consensus state machine (events) and what comes out (effects).

Events (inputs to ``ConsensusCore.handle``):
    ProposalMessage(proposal, block)  a peer's signed proposal with its block
    VoteMessage(vote)                 a peer's signed prevote or precommit
    Timeout(height, round, step)      a timeout the core asked for has expired
    BlockValidated(block_hash, valid) the node's verdict on a proposed block
    SyncedBlock(block, commit)        a committed block from block sync (verified here)

Effects (outputs, for the driver to carry out, in order):
    BroadcastProposal(proposal, block)  send to every peer
    BroadcastVote(vote)                 send to every peer
    ScheduleTimeout(timeout, delay_ms)  deliver ``timeout`` back after delay_ms
    ValidateBlock(block)                check the block, answer with BlockValidated
    CommitBlock(block, commit)          decided: apply and store the block and certificate
    RecordEvidence(evidence)            a new equivocation was seen (already pooled)

Every signed message in an effect has already been recorded in the signer
store (write-ahead), so the driver may send it at once.

Determinism: plain frozen data.
"""

from __future__ import annotations

from dataclasses import dataclass

from zonechain.node.consensus.timeouts import Step
from zonechain.node.types.block import Block
from zonechain.node.types.commit import Commit
from zonechain.node.types.evidence import DuplicateVoteEvidence
from zonechain.node.types.vote import Proposal, Vote


@dataclass(frozen=True, slots=True)
class ProposalMessage:
    proposal: Proposal
    block: Block


@dataclass(frozen=True, slots=True)
class VoteMessage:
    vote: Vote


@dataclass(frozen=True, slots=True)
class Timeout:
    height: int
    round: int
    step: Step


@dataclass(frozen=True, slots=True)
class BlockValidated:
    block_hash: bytes
    valid: bool


@dataclass(frozen=True, slots=True)
class SyncedBlock:
    block: Block
    commit: Commit


ConsensusMessage = ProposalMessage | VoteMessage
"""What validators send each other."""

Event = ProposalMessage | VoteMessage | Timeout | BlockValidated | SyncedBlock


@dataclass(frozen=True, slots=True)
class BroadcastProposal:
    proposal: Proposal
    block: Block


@dataclass(frozen=True, slots=True)
class BroadcastVote:
    vote: Vote


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    timeout: Timeout
    delay_ms: int


@dataclass(frozen=True, slots=True)
class ValidateBlock:
    block: Block


@dataclass(frozen=True, slots=True)
class CommitBlock:
    block: Block
    commit: Commit


@dataclass(frozen=True, slots=True)
class RecordEvidence:
    evidence: DuplicateVoteEvidence


Effect = (
    BroadcastProposal | BroadcastVote | ScheduleTimeout | ValidateBlock | CommitBlock
    | RecordEvidence
)
