"""Validator-set changes in the consensus core and in the seeded simulation.

KEYS[3] leaves and NEW joins at height 2 (CHANGE_HEIGHT): votes, proposals,
certificates and evidence use the set of their own height, and a validator
signs only at heights where it is a member. The simulation adds, removes and
re-weighs validators under faults; a failing run names its seed
(``zonechain.node.consensus.simulation.replay(seed, set_change_config_for_seed(seed))``).
"""

from __future__ import annotations

import pytest

from tests.node.test_consensus_support import (
    CHAIN_ID,
    KEYS,
    TIMEOUTS,
    RecordingBuilder,
    make_block,
    votes_in,
)
from zonechain.node.consensus import (
    BlockValidated,
    ConsensusCore,
    Effect,
    EvidencePool,
    GuardedSigner,
    MemorySignerStore,
    ProposalMessage,
    SyncedBlock,
    Timeout,
    Validator,
    ValidatorSchedule,
    ValidatorSet,
    VoteMessage,
    commit_from_precommits,
)
from zonechain.node.consensus.events import (
    BroadcastProposal,
    CommitBlock,
    RecordEvidence,
    ValidateBlock,
)
from zonechain.node.consensus.simulation import CHAIN_ID as CHAIN_ID_SIM
from zonechain.node.consensus.simulation import (
    FakeKey,
    PropertyViolation,
    SimulationResult,
    check_properties,
    replay,
    set_change_config_for_seed,
)
from zonechain.node.consensus.timeouts import Step
from zonechain.node.crypto import PrivateKey, sign_proposal, sign_vote
from zonechain.node.types import Block, Commit, CommitSignature, Vote, VoteType

NEW = PrivateKey.from_seed(bytes([99]) * 32)
ALL_KEYS = [*KEYS, NEW]
CHANGE_HEIGHT = 2
FIRST = ValidatorSet(Validator(key.public_key, 1) for key in KEYS)
SECOND = ValidatorSet(Validator(key.public_key, 1) for key in [*KEYS[:3], NEW])
CHANGES = [(1, FIRST), (CHANGE_HEIGHT, SECOND)]

QUICK_SEEDS = range(6)
QUICK_HEIGHTS = 30
SLOW_SEEDS = range(100, 200)
SLOW_HEIGHTS = 40


def make_core(key: PrivateKey, height: int) -> ConsensusCore:
    return ConsensusCore(CHAIN_ID, ValidatorSchedule.from_changes(CHANGES),
                         GuardedSigner(key, MemorySignerStore()), RecordingBuilder(key.address),
                         height=height, timeouts=TIMEOUTS)


def proposer_key(height: int, round: int) -> PrivateKey:
    proposer = ValidatorSchedule.from_changes(CHANGES).proposer(height, round)
    return next(key for key in ALL_KEYS if key.address == proposer.address)


def proposal(height: int, block: Block, signer: PrivateKey | None = None) -> ProposalMessage:
    key = signer if signer is not None else proposer_key(height, 0)
    return ProposalMessage(sign_proposal(key, CHAIN_ID, height, 0, None, block.hash), block)


def deliver(core: ConsensusCore, event: ProposalMessage | VoteMessage | SyncedBlock
            ) -> list[Effect]:
    effects = core.handle(event)
    for effect in list(effects):
        if isinstance(effect, ValidateBlock):
            effects += core.handle(BlockValidated(effect.block.hash, True))
    return effects


def precommit(key: PrivateKey, height: int, value: bytes | None) -> VoteMessage:
    return VoteMessage(sign_vote(key, VoteType.PRECOMMIT, CHAIN_ID, height, 0, value))


def commits_in(effects: list[Effect]) -> list[CommitBlock]:
    return [effect for effect in effects if isinstance(effect, CommitBlock)]


def bystander(height: int, members: list[PrivateKey]) -> PrivateKey:
    """A member that does not propose round 0 at ``height``."""
    proposer = proposer_key(height, 0).address
    return next(key for key in members if key.address != proposer)


# The core ---------------------------------------------------------------------


def test_the_core_uses_the_set_of_the_height_it_decides() -> None:
    core = make_core(KEYS[0], height=1)
    assert core.validators is FIRST and core.validators_at(CHANGE_HEIGHT) is SECOND
    static = ConsensusCore(CHAIN_ID, FIRST, GuardedSigner(KEYS[0], MemorySignerStore()),
                           RecordingBuilder(KEYS[0].address), height=5, timeouts=TIMEOUTS)
    assert static.schedule is None and static.validators_at(99) is FIRST


def test_a_removed_validators_votes_do_not_count_and_the_new_ones_do() -> None:
    core = make_core(bystander(CHANGE_HEIGHT, KEYS[:3]), height=CHANGE_HEIGHT)
    assert core.validators is SECOND
    block = make_block(CHANGE_HEIGHT, proposer_key(CHANGE_HEIGHT, 0).address)
    effects = deliver(core, proposal(CHANGE_HEIGHT, block))
    others = [key for key in KEYS[:3] if key.address != core.address]
    for key in [*others, KEYS[3]]:  # two members and the removed validator: 3 of 4 signers
        effects += deliver(core, precommit(key, CHANGE_HEIGHT, block.hash))
    assert not commits_in(effects), "the removed validator's precommit must not count"
    effects = deliver(core, precommit(NEW, CHANGE_HEIGHT, block.hash))
    (decided,) = commits_in(effects)
    signers = {signature.validator for signature in decided.commit.signatures}
    assert NEW.address in signers and KEYS[3].address not in signers


def test_a_validator_signs_only_at_heights_where_it_is_a_member() -> None:
    newcomer = make_core(NEW, height=1)
    block = make_block(1, proposer_key(1, 0).address)
    effects = newcomer.start() + deliver(newcomer, proposal(1, block))
    effects += newcomer.handle(Timeout(1, 0, Step.PROPOSE))
    assert not votes_in(effects) and newcomer.step == Step.PREVOTE  # follows, silently
    for key in KEYS[:3]:
        effects += deliver(newcomer, precommit(key, 1, block.hash))
    assert commits_in(effects) and newcomer.height == CHANGE_HEIGHT
    nxt = make_block(CHANGE_HEIGHT, proposer_key(CHANGE_HEIGHT, 0).address)
    if proposer_key(CHANGE_HEIGHT, 0) == NEW:
        assert any(isinstance(e, BroadcastProposal) for e in effects)
    else:
        effects = deliver(newcomer, proposal(CHANGE_HEIGHT, nxt))
        assert [v.validator for v in votes_in(effects)] == [NEW.address]

    leaver = make_core(KEYS[3], height=CHANGE_HEIGHT)
    effects = leaver.start() + deliver(leaver, proposal(CHANGE_HEIGHT, nxt))
    effects += leaver.handle(Timeout(CHANGE_HEIGHT, 0, Step.PROPOSE))
    assert not votes_in(effects)
    assert not any(isinstance(e, BroadcastProposal) for e in effects)


def test_a_proposal_from_a_removed_validator_is_ignored() -> None:
    core = make_core(bystander(CHANGE_HEIGHT, KEYS[:3]), height=CHANGE_HEIGHT)
    block = make_block(CHANGE_HEIGHT, KEYS[3].address)
    effects = deliver(core, proposal(CHANGE_HEIGHT, block, signer=KEYS[3]))
    assert not any(isinstance(e, ValidateBlock) for e in effects)
    assert block.hash not in core.known_blocks()


def test_a_synced_block_is_verified_against_the_set_of_its_height() -> None:
    core = make_core(KEYS[0], height=CHANGE_HEIGHT)
    first = make_block(1, KEYS[1].address)
    last_commit = commit_from_precommits(
        sign_vote(k, VoteType.PRECOMMIT, CHAIN_ID, 1, 0, first.hash) for k in KEYS[:3])
    block = make_block(CHANGE_HEIGHT, KEYS[1].address, last_commit)
    old_signers = [sign_vote(k, VoteType.PRECOMMIT, CHAIN_ID, CHANGE_HEIGHT, 0, block.hash)
                   for k in KEYS[1:4]]
    assert not commits_in(core.handle(SyncedBlock(block, commit_from_precommits(old_signers))))
    new_signers = [sign_vote(k, VoteType.PRECOMMIT, CHAIN_ID, CHANGE_HEIGHT, 0, block.hash)
                   for k in (KEYS[1], KEYS[2], NEW)]
    assert commits_in(core.handle(SyncedBlock(block, commit_from_precommits(new_signers))))


def test_late_votes_are_checked_against_the_set_of_their_own_height() -> None:
    core = make_core(bystander(1, KEYS[:3]), height=1)
    block = make_block(1, proposer_key(1, 0).address)
    effects = deliver(core, proposal(1, block))
    for key in [KEYS[3], *(k for k in KEYS[:3] if k.address != core.address)]:
        effects += deliver(core, precommit(key, 1, block.hash))
    assert commits_in(effects) and core.height == CHANGE_HEIGHT
    # KEYS[3] was a validator at height 1: its conflicting precommit there is evidence
    late = core.handle(precommit(KEYS[3], 1, None))
    assert [type(e) for e in late] == [RecordEvidence]
    assert core.evidence.offenders() == [KEYS[3].address]
    # at height 2 it is nobody: its votes, even conflicting ones, are ignored
    core.evidence = EvidencePool()
    current = core.handle(precommit(KEYS[3], CHANGE_HEIGHT, None))
    current += core.handle(precommit(KEYS[3], CHANGE_HEIGHT, b"\x01" * 32))
    assert not current and not core.evidence.offenders()
    assert core.votes.total_power(0, VoteType.PRECOMMIT) == 0


# The simulation ---------------------------------------------------------------


def signers(result: SimulationResult, height: int) -> set[bytes]:
    _, commit = result.commits[result.honest[0]][height - 1]
    return {signature.validator for signature in commit.signatures}


@pytest.mark.parametrize("seed", QUICK_SEEDS)
def test_quick_set_change_sweep(seed: int) -> None:
    replay(seed, set_change_config_for_seed(seed, heights=QUICK_HEIGHTS))


@pytest.mark.slow
def test_large_set_change_sweep() -> None:
    failures = []
    for seed in SLOW_SEEDS:
        try:
            replay(seed, set_change_config_for_seed(seed, heights=SLOW_HEIGHTS))
        except PropertyViolation as violation:
            failures.append(str(violation))
    assert not failures, "\n".join(failures)


def test_the_added_validator_takes_part_from_its_height_and_the_removed_one_stops() -> None:
    config = set_change_config_for_seed(0, heights=40)
    result = replay(0, config)
    epochs = config.power_epochs()
    joiner = result.addresses[-1]
    added = next(height for height, powers in epochs if powers[-1] > 0)
    leaver_index = next(i for i in range(config.validators - 1)
                        if any(p[i] == 0 for _, p in epochs))
    leaver = result.addresses[leaver_index]
    removed = next(height for height, powers in epochs if powers[leaver_index] == 0)
    heights = range(1, config.heights + 1)
    assert all(joiner not in signers(result, h) for h in heights if h < added)
    assert any(joiner in signers(result, h) for h in heights if h >= added)
    assert all(leaver not in signers(result, h) for h in heights if h >= removed)
    assert any(leaver in signers(result, h) for h in heights if h < removed)
    chain = result.commits[result.honest[0]]
    assert any(block.header.proposer == joiner for block, _ in chain)
    assert result.messages_after_removal > 0  # the leaver kept voting; nobody counted it
    assert all(block.header.validator_set_hash == result.validators_at(block.height).hash
               for block, _ in chain)


def test_the_sweep_changes_sets_under_faults() -> None:
    configs = [set_change_config_for_seed(seed) for seed in range(12)]
    assert all(len(c.set_changes) >= 1 and c.removed_keep_voting for c in configs)
    assert any(c.byzantine for c in configs) and any(c.crashed for c in configs)
    assert any(c.drop_per_mille for c in configs) and any(c.partition for c in configs)


def test_the_checker_catches_a_removed_validator_in_a_certificate() -> None:
    """A certificate that counts the removed validator's signature after its removal
    (what a core ignoring set changes would build) fails VALIDITY, naming the seed."""
    config = set_change_config_for_seed(0, heights=QUICK_HEIGHTS)
    result = replay(0, config)
    epochs = config.power_epochs()
    leaver_index = next(i for i in range(config.validators - 1)
                        if any(p[i] == 0 for _, p in epochs))
    removed = next(height for height, powers in epochs if powers[leaver_index] == 0)
    leaver = result.validators_at(1).validators[
        [v.address for v in result.validators_at(1).validators].index(
            result.addresses[leaver_index])]
    honest = result.honest[0]
    block, commit = result.commits[honest][removed - 1]
    message = Vote.signing_bytes_for(VoteType.PRECOMMIT, CHAIN_ID_SIM, commit.height,
                                     commit.round, commit.block_hash, leaver.address)
    forged = Commit.from_signatures(
        commit.height, commit.round, commit.block_hash,
        [*commit.signatures, CommitSignature(leaver.address,
                                             FakeKey(leaver.public_key).sign(message))])
    result.commits[honest][removed - 1] = (block, forged)
    with pytest.raises(PropertyViolation, match=r"^seed 0 .*VALIDITY.*not a validator"):
        check_properties(result)
