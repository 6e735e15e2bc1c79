"""Helpers for the consensus tests (no tests here): validators, blocks, signed messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from zonechain.node.consensus import (
    BlockValidated,
    ConsensusCore,
    Effect,
    GuardedSigner,
    MemorySignerStore,
    ProposalMessage,
    SignerStore,
    TimeoutConfig,
    Validator,
    ValidatorSet,
    VoteMessage,
)
from zonechain.node.consensus.events import BroadcastProposal, BroadcastVote, ValidateBlock
from zonechain.node.crypto import PrivateKey, sign_proposal, sign_vote
from zonechain.node.types import (
    Block,
    BlockHeader,
    Commit,
    DuplicateVoteEvidence,
    Vote,
    VoteType,
    evidence_root,
    last_commit_hash,
    receipts_root,
    tx_root,
)
from zonechain.node.types.hashing import ZERO_HASH

CHAIN_ID = "consensus-test"
KEYS = [PrivateKey.from_seed(bytes([index + 1]) * 32) for index in range(4)]
VALIDATORS = ValidatorSet(Validator(key.public_key, 1) for key in KEYS)
TIMEOUTS = TimeoutConfig(
    propose_base_ms=1000, propose_increment_ms=500, prevote_base_ms=400,
    prevote_increment_ms=200, precommit_base_ms=400, precommit_increment_ms=200,
)


def key_of(address: bytes) -> PrivateKey:
    return next(key for key in KEYS if key.address == address)


def proposer_key(height: int, round: int) -> PrivateKey:
    return key_of(VALIDATORS.proposer(height, round).address)


def make_block(
    height: int, proposer: bytes, last_commit: Commit | None = None,
    evidence: tuple[DuplicateVoteEvidence, ...] = (), time_ms: int = 0,
) -> Block:
    header = BlockHeader(
        chain_id=CHAIN_ID, height=height, time_ms=time_ms,
        previous_block_hash=last_commit.block_hash if last_commit else ZERO_HASH,
        tx_root=tx_root(()), last_state_root=ZERO_HASH, last_receipts_root=receipts_root(()),
        last_commit_hash=last_commit_hash(last_commit),
        validator_set_hash=VALIDATORS.hash, evidence_root=evidence_root(evidence),
        proposer=proposer,
    )
    return Block(header, (), last_commit, evidence)


@dataclass
class RecordingBuilder:
    """A BlockBuilder that remembers what it was asked to build."""

    address: bytes
    calls: list[tuple[int, int, tuple[DuplicateVoteEvidence, ...]]] = field(default_factory=list)

    def build_block(
        self, height: int, round: int, last_commit: Commit | None,
        evidence: tuple[DuplicateVoteEvidence, ...],
    ) -> Block:
        self.calls.append((height, round, evidence))
        return make_block(height, self.address, last_commit, evidence, time_ms=round)


def make_core(
    key: PrivateKey, store: SignerStore | None = None, height: int = 1,
    last_commit: Commit | None = None,
) -> tuple[ConsensusCore, RecordingBuilder]:
    builder = RecordingBuilder(key.address)
    signer = GuardedSigner(key, store if store is not None else MemorySignerStore())
    core = ConsensusCore(CHAIN_ID, VALIDATORS, signer, builder, height=height,
                         last_commit=last_commit, timeouts=TIMEOUTS)
    return core, builder


def non_proposer(height: int, rounds: range) -> PrivateKey:
    """A validator that proposes in none of ``rounds`` at ``height``."""
    proposers = {VALIDATORS.proposer(height, r).address for r in rounds}
    return next(key for key in KEYS if key.address not in proposers)


def proposal_message(
    height: int, round: int, block: Block, pol_round: int | None = None
) -> ProposalMessage:
    key = proposer_key(height, round)
    return ProposalMessage(sign_proposal(key, CHAIN_ID, height, round, pol_round, block.hash),
                           block)


def vote_message(
    key: PrivateKey, vote_type: VoteType, height: int, round: int, value: bytes | None
) -> VoteMessage:
    return VoteMessage(sign_vote(key, vote_type, CHAIN_ID, height, round, value))


def others(core: ConsensusCore) -> list[PrivateKey]:
    return [key for key in KEYS if key.address != core.address]


def votes_in(effects: list[Effect]) -> list[Vote]:
    return [effect.vote for effect in effects if isinstance(effect, BroadcastVote)]


def feed_proposal(core: ConsensusCore, message: ProposalMessage, valid: bool = True
                  ) -> list[Effect]:
    """Deliver a proposal and answer its ValidateBlock with ``valid``."""
    effects = core.handle(message)
    if any(isinstance(e, ValidateBlock) for e in effects):
        effects += core.handle(BlockValidated(message.block.hash, valid))
    return effects


def proposals_in(effects: list[Effect]) -> list[BroadcastProposal]:
    return [effect for effect in effects if isinstance(effect, BroadcastProposal)]
