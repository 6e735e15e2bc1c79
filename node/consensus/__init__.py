"""Tendermint BFT consensus (Buchman, Kwon, Milosevic 2018, Algorithm 1) as a pure state machine.

The API, for the node and the gRPC layer that wire it up:

    validators = ValidatorSet([Validator(public_key, power), ...])
    signer = GuardedSigner(private_key, NodeStoreSignerStore(node_store))   # the WAL'd signer
    core = ConsensusCore(chain_id, validators, signer, builder, height=store.next_height,
                         last_commit=..., timeouts=TimeoutConfig())
    effects = core.start()                     # then, for every event:
    effects = core.handle(ProposalMessage(proposal, block) | VoteMessage(vote)
                          | Timeout(height, round, step) | BlockValidated(hash, ok)
                          | SyncedBlock(block, commit))

Each effect is one of BroadcastProposal, BroadcastVote, ScheduleTimeout
(deliver the ``Timeout`` back after ``delay_ms``), ValidateBlock (answer with
BlockValidated: execute/check the block, Alg.1 ``valid(v)``), CommitBlock
(store and apply the block with its certificate), RecordEvidence. Carry them
out in order. ``ConsensusRunner`` does exactly that over three seams
(``Clock``, ``Transport``, ``Application``); ``builder`` implements
``BlockBuilder.build_block(height, round, last_commit, evidence)``.

Gossip duty of the transport: send a (re)connecting or lagging peer at our
height ``core.messages_for_peers()`` (the messages it lacks; ``has_message``
tells), and answer a peer behind us with our committed block and certificate
(it feeds them as ``SyncedBlock``). ``verify_commit(commit, validators,
chain_id)`` is the certificate check for block sync and the SDK.

Validator sets that change with height: pass a ``ValidatorSchedule`` instead
of the ``ValidatorSet`` (same argument). The core then takes the set of the
height it is deciding for quorums, proposers, signatures and certificates,
carries proposer priorities across changes, and signs only at heights where
its validator is a member:

    schedule = ValidatorSchedule(validators_at, initial_height=1)  # keep one per node
    core = ConsensusCore(chain_id, schedule, signer, builder, height=..., ...)
    core.validators                    # the set of core.height
    core.validators_at(h)              # the set of any height h (for sync, last commits)

``validators_at(h)`` must answer for h = next height as soon as the block
before the previous one is applied (governance's VALIDATOR_CHANGE_DELAY = 2
guarantees it); see docs/CONSENSUS.md "Validator-set changes".

Evidence of equivocation is in ``core.evidence`` (an ``EvidencePool``); the
builder puts ``evidence.pending()`` into its next block.

``simulation`` runs N validators in one process over a seeded simulated
network; ``replay(seed)`` reproduces a run. docs/CONSENSUS.md has the details.

Determinism: nothing here reads a clock, a random source or unordered
containers; see each module's "Determinism:" paragraph.
"""

from zonechain.node.consensus.certificate import (
    SignatureVerifier,
    commit_from_precommits,
    verify_commit,
)
from zonechain.node.consensus.driver import Application, Clock, ConsensusRunner, Transport
from zonechain.node.consensus.errors import (
    ConsensusError,
    DoubleSignRefused,
    InvalidCommit,
    InvalidValidatorSet,
    SignerStateCorrupt,
)
from zonechain.node.consensus.events import (
    BlockValidated,
    BroadcastProposal,
    BroadcastVote,
    CommitBlock,
    ConsensusMessage,
    Effect,
    Event,
    ProposalMessage,
    RecordEvidence,
    ScheduleTimeout,
    SyncedBlock,
    Timeout,
    ValidateBlock,
    VoteMessage,
)
from zonechain.node.consensus.evidence import EvidencePool
from zonechain.node.consensus.schedule import (
    ValidatorSchedule,
    ValidatorSetProvider,
    changes_provider,
)
from zonechain.node.consensus.signer import (
    ConsensusSigner,
    GuardedSigner,
    KeySigner,
    MemorySignerStore,
    NodeStoreSignerStore,
    SignerStore,
    SignState,
)
from zonechain.node.consensus.state_machine import BlockBuilder, ConsensusCore
from zonechain.node.consensus.timeouts import Step, TimeoutConfig
from zonechain.node.consensus.validators import Validator, ValidatorSet

__all__ = [
    "Application",
    "BlockBuilder",
    "BlockValidated",
    "BroadcastProposal",
    "BroadcastVote",
    "Clock",
    "CommitBlock",
    "ConsensusCore",
    "ConsensusError",
    "ConsensusMessage",
    "ConsensusRunner",
    "ConsensusSigner",
    "DoubleSignRefused",
    "Effect",
    "Event",
    "EvidencePool",
    "GuardedSigner",
    "InvalidCommit",
    "InvalidValidatorSet",
    "KeySigner",
    "MemorySignerStore",
    "NodeStoreSignerStore",
    "ProposalMessage",
    "RecordEvidence",
    "ScheduleTimeout",
    "SignState",
    "SignatureVerifier",
    "SignerStateCorrupt",
    "SignerStore",
    "Step",
    "SyncedBlock",
    "Timeout",
    "TimeoutConfig",
    "Transport",
    "ValidateBlock",
    "Validator",
    "ValidatorSchedule",
    "ValidatorSet",
    "ValidatorSetProvider",
    "VoteMessage",
    "changes_provider",
    "commit_from_precommits",
    "verify_commit",
]
