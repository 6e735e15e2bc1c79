"""The Tendermint state machine, driven by hand with four ed25519 validators (power 1 each).

Each test cites the Algorithm 1 rule it exercises. Quorum is 3 of 4.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node.test_consensus_support import (
    CHAIN_ID,
    KEYS,
    VALIDATORS,
    feed_proposal,
    make_block,
    make_core,
    non_proposer,
    others,
    proposal_message,
    proposals_in,
    proposer_key,
    vote_message,
    votes_in,
)
from zonechain.node.consensus import (
    BlockValidated,
    CommitBlock,
    ConsensusCore,
    DoubleSignRefused,
    GuardedSigner,
    NodeStoreSignerStore,
    RecordEvidence,
    ScheduleTimeout,
    Step,
    SyncedBlock,
    Timeout,
    ValidateBlock,
    VoteMessage,
    commit_from_precommits,
    verify_commit,
)
from zonechain.node.crypto import PrivateKey, sign_vote, verify_vote
from zonechain.node.store import NodeStore
from zonechain.node.types import Block, Vote, VoteType

PREVOTE, PRECOMMIT = VoteType.PREVOTE, VoteType.PRECOMMIT


def _locked_core(key: PrivateKey) -> tuple[ConsensusCore, Block]:
    """A core at height 1 locked on the round-0 proposal (Alg.1 lines 36-41)."""
    core, _ = make_core(key)
    core.start()
    block = make_block(1, proposer_key(1, 0).address)
    feed_proposal(core, proposal_message(1, 0, block))
    for peer in others(core)[:2]:
        core.handle(vote_message(peer, PREVOTE, 1, 0, block.hash))
    assert (core.locked_value, core.locked_round, core.step) == (block.hash, 0, Step.PRECOMMIT)
    return core, block


def _next_round(core: ConsensusCore) -> None:
    """Alg.1 lines 65-67: OnTimeoutPrecommit starts the next round."""
    round = core.round
    core.handle(Timeout(core.height, round, Step.PRECOMMIT))
    assert core.round == round + 1


def test_a_round_commits_with_a_certificate_that_verifies() -> None:
    core, _ = make_core(non_proposer(1, range(1)))
    assert ScheduleTimeout(Timeout(1, 0, Step.PROPOSE), 1000) in core.start()  # line 21
    block = make_block(1, proposer_key(1, 0).address)
    assert core.handle(proposal_message(1, 0, block)) == [ValidateBlock(block)]
    [prevote] = votes_in(core.handle(BlockValidated(block.hash, True)))  # lines 22-27
    assert (prevote.type, prevote.round, prevote.block_hash) == (PREVOTE, 0, block.hash)
    effects = []
    for peer in others(core)[:2]:
        effects += core.handle(vote_message(peer, PREVOTE, 1, 0, block.hash))
    [precommit] = votes_in(effects)  # lines 36-41
    assert (precommit.type, precommit.block_hash) == (PRECOMMIT, block.hash)
    effects = []
    for peer in others(core)[:2]:
        effects += core.handle(vote_message(peer, PRECOMMIT, 1, 0, block.hash))
    [commit] = [e for e in effects if isinstance(e, CommitBlock)]  # lines 49-54
    assert commit.block == block
    assert verify_commit(commit.commit, VALIDATORS, CHAIN_ID) == 3
    assert (core.height, core.round, core.locked_round) == (2, 0, None)
    assert core.last_commit == commit.commit


def test_an_invalid_proposal_gets_a_nil_prevote_and_never_commits() -> None:
    core, _ = make_core(non_proposer(1, range(1)))
    core.start()
    block = make_block(1, proposer_key(1, 0).address)
    [prevote] = votes_in(feed_proposal(core, proposal_message(1, 0, block), valid=False))
    assert prevote.block_hash is None  # Alg.1 line 26: not valid(v)
    effects = []
    for peer in others(core):  # even 2f+1 precommits cannot commit an invalid block (line 50)
        effects += core.handle(vote_message(peer, PREVOTE, 1, 0, block.hash))
        effects += core.handle(vote_message(peer, PRECOMMIT, 1, 0, block.hash))
    assert not [e for e in effects if isinstance(e, CommitBlock)]
    assert core.height == 1 and core.locked_round is None


def test_no_prevote_before_the_node_has_judged_the_block() -> None:
    core, _ = make_core(non_proposer(1, range(1)))
    core.start()
    block = make_block(1, proposer_key(1, 0).address)
    assert votes_in(core.handle(proposal_message(1, 0, block))) == []
    assert core.step == Step.PROPOSE


def test_a_locked_validator_prevotes_nil_for_another_value() -> None:
    core, locked = _locked_core(non_proposer(1, range(3)))
    _next_round(core)
    other = make_block(1, proposer_key(1, 1).address, time_ms=7)
    [prevote] = votes_in(feed_proposal(core, proposal_message(1, 1, other)))  # line 23
    assert (prevote.round, prevote.block_hash) == (1, None)
    # Round 2: `other` again, claiming a POL from round 1 that does not exist
    # (only two prevotes for it): no prevote until the propose timeout, then nil.
    for peer in others(core)[:2]:
        core.handle(vote_message(peer, PREVOTE, 1, 1, other.hash))
    core.handle(Timeout(1, 1, Step.PREVOTE))
    _next_round(core)
    assert votes_in(feed_proposal(core, proposal_message(1, 2, other, pol_round=1))) == []
    [prevote] = votes_in(core.handle(Timeout(1, 2, Step.PROPOSE)))  # lines 57-60
    assert (prevote.round, prevote.block_hash) == (2, None)
    assert (core.locked_value, core.locked_round) == (locked.hash, 0)


def test_a_locked_validator_prevotes_a_value_with_a_pol_from_a_later_round() -> None:
    core, _ = _locked_core(non_proposer(1, range(3)))
    _next_round(core)
    other = make_block(1, proposer_key(1, 1).address, time_ms=7)
    for peer in others(core):  # a POL for `other` in round 1; its proposal never reached us
        core.handle(vote_message(peer, PREVOTE, 1, 1, other.hash))
    core.handle(Timeout(1, 1, Step.PROPOSE))
    core.handle(Timeout(1, 1, Step.PREVOTE))
    _next_round(core)
    [prevote] = votes_in(feed_proposal(core, proposal_message(1, 2, other, pol_round=1)))
    assert (prevote.round, prevote.block_hash) == (2, other.hash)  # lines 28-30: 0 <= vr = 1


def test_a_locked_validator_prevotes_its_locked_value_again() -> None:
    core, locked = _locked_core(non_proposer(1, range(3)))
    _next_round(core)
    [prevote] = votes_in(feed_proposal(core, proposal_message(1, 1, locked, pol_round=0)))
    assert prevote.block_hash == locked.hash  # line 29: lockedValue = v


def test_a_proposer_reproposes_its_valid_value_with_its_round() -> None:
    key = proposer_key(1, 1)
    core, builder = make_core(key)
    core.start()
    block = make_block(1, proposer_key(1, 0).address)
    feed_proposal(core, proposal_message(1, 0, block))
    for peer in others(core)[:2]:
        core.handle(vote_message(peer, PREVOTE, 1, 0, block.hash))
    assert (core.valid_block, core.valid_round) == (block, 0)  # lines 42-43
    effects = core.handle(Timeout(1, 0, Step.PRECOMMIT))
    [proposed] = proposals_in(effects)  # lines 15-16, 19
    assert proposed.block == block and proposed.proposal.pol_round == 0
    assert builder.calls == []  # getValue() was not needed


def test_timeouts_grow_with_the_round() -> None:
    core, _ = make_core(KEYS[0])
    propose_delays = [e.delay_ms for e in core.start() if isinstance(e, ScheduleTimeout)]
    for round in range(5):
        core.handle(Timeout(1, round, Step.PROPOSE))
        core.handle(Timeout(1, round, Step.PREVOTE))
        effects = core.handle(Timeout(1, round, Step.PRECOMMIT))
        propose_delays += [e.delay_ms for e in effects if isinstance(e, ScheduleTimeout)]
    assert propose_delays == [1000 + 500 * r for r in range(6)]
    # Alg.1 lines 34-35: 2f+1 prevotes of any kind schedule the prevote timeout.
    effects = core.handle(Timeout(1, 5, Step.PROPOSE))
    for peer, value in zip(others(core), (None, bytes(32), b"\x01" * 32), strict=True):
        effects += core.handle(vote_message(peer, PREVOTE, 1, 5, value))
    assert ScheduleTimeout(Timeout(1, 5, Step.PREVOTE), 400 + 200 * 5) in effects


def test_f_plus_one_messages_from_a_later_round_skip_to_it() -> None:
    core, _ = make_core(non_proposer(1, range(1)))
    core.start()
    for peer in others(core)[:2]:  # two of four: more than 1/3 (Alg.1 lines 55-56)
        core.handle(vote_message(peer, PREVOTE, 1, 4, None))
    assert core.round == 4


def test_equivocation_becomes_evidence_once_and_goes_into_the_next_proposal() -> None:
    core, builder = make_core(non_proposer(1, range(1)))
    core.start()
    cheater = others(core)[0]
    effects = core.handle(vote_message(cheater, PREVOTE, 1, 0, None))
    effects += core.handle(vote_message(cheater, PREVOTE, 1, 0, b"\x01" * 32))
    effects += core.handle(vote_message(cheater, PREVOTE, 1, 0, b"\x02" * 32))  # same slot
    [record] = [e for e in effects if isinstance(e, RecordEvidence)]
    evidence = record.evidence
    assert evidence.validator == cheater.address
    verify_vote(evidence.vote_a, cheater.public_key)
    verify_vote(evidence.vote_b, cheater.public_key)
    assert core.evidence.pending() == (evidence,)
    while VALIDATORS.proposer(1, core.round).address != core.address:
        _next_round(core)
    assert builder.calls[-1][2] == (evidence,)


def test_bad_messages_are_ignored() -> None:
    core, _ = make_core(non_proposer(1, range(1)))
    core.start()
    peer = others(core)[0]
    good = sign_vote(peer, PREVOTE, CHAIN_ID, 1, 0, None)
    forged = Vote(PREVOTE, CHAIN_ID, 1, 0, None, peer.address, bytes(64))
    stranger = PrivateKey.from_seed(b"\x99" * 32)
    for vote in (
        forged,
        sign_vote(stranger, PREVOTE, CHAIN_ID, 1, 0, None),
        sign_vote(peer, PREVOTE, "another-chain", 1, 0, None),
        sign_vote(peer, PREVOTE, CHAIN_ID, 7, 0, None),
    ):
        assert core.handle(VoteMessage(vote)) == []
    assert core.votes.total_power(0, PREVOTE) == 0
    core.handle(VoteMessage(good))
    assert core.votes.total_power(0, PREVOTE) == 1
    wrong_proposer = non_proposer(1, range(1))
    block = make_block(1, wrong_proposer.address)
    message = proposal_message(1, 0, block)
    impostor = type(message)(message.proposal, make_block(1, wrong_proposer.address, time_ms=9))
    assert core.handle(impostor) == []  # block does not match the signed hash
    assert core.proposal(0) is None


def test_next_height_messages_wait_for_that_height() -> None:
    core, _ = make_core(non_proposer(1, range(1)))
    core.start()
    ahead = make_block(2, proposer_key(2, 0).address)
    assert core.handle(proposal_message(2, 0, ahead)) == []
    block = make_block(1, proposer_key(1, 0).address)
    feed_proposal(core, proposal_message(1, 0, block))
    effects = []
    for peer in others(core):
        effects += core.handle(vote_message(peer, PRECOMMIT, 1, 0, block.hash))
    assert core.height == 2
    assert ValidateBlock(ahead) in effects


def test_a_synced_block_with_a_valid_certificate_decides_the_height() -> None:
    core, _ = make_core(KEYS[0])
    core.start()
    block = make_block(1, proposer_key(1, 0).address)
    weak = commit_from_precommits(
        sign_vote(key, PRECOMMIT, CHAIN_ID, 1, 0, block.hash) for key in KEYS[:2]
    )
    assert core.handle(SyncedBlock(block, weak)) == []
    strong = commit_from_precommits(
        sign_vote(key, PRECOMMIT, CHAIN_ID, 1, 0, block.hash) for key in KEYS[1:]
    )
    effects = core.handle(SyncedBlock(block, strong))
    assert CommitBlock(block, strong) in effects and core.height == 2


def test_a_validator_restarted_from_its_store_cannot_equivocate(tmp_path: Path) -> None:
    key = non_proposer(1, range(2))
    block = make_block(1, proposer_key(1, 0).address)
    with NodeStore.open(tmp_path / "db", chain_id=CHAIN_ID) as store:
        core, _ = make_core(key, NodeStoreSignerStore(store))
        core.start()
        [first] = votes_in(feed_proposal(core, proposal_message(1, 0, block)))
        assert first.block_hash == block.hash
    # The process dies; memory is gone. A new core starts from the same store.
    with NodeStore.open(tmp_path / "db", chain_id=CHAIN_ID) as store:
        restarted, _ = make_core(key, NodeStoreSignerStore(store))
        assert votes_in(restarted.start()) == [first]  # resends what it signed, nothing else
        assert restarted.round == 0
        # The propose timeout would make it prevote nil: it resends its old vote instead.
        assert votes_in(restarted.handle(Timeout(1, 0, Step.PROPOSE))) == [first]
        signer = GuardedSigner(key, NodeStoreSignerStore(store))
        with pytest.raises(DoubleSignRefused):
            signer.sign_vote(PREVOTE, CHAIN_ID, 1, 0, None)


def test_a_restarted_validator_keeps_its_lock(tmp_path: Path) -> None:
    key = non_proposer(1, range(3))
    block = make_block(1, proposer_key(1, 0).address)
    with NodeStore.open(tmp_path / "db", chain_id=CHAIN_ID) as store:
        core, _ = make_core(key, NodeStoreSignerStore(store))
        core.start()
        feed_proposal(core, proposal_message(1, 0, block))
        for peer in others(core)[:2]:
            core.handle(vote_message(peer, PREVOTE, 1, 0, block.hash))
        assert core.locked_round == 0
    with NodeStore.open(tmp_path / "db", chain_id=CHAIN_ID) as store:
        restarted, _ = make_core(key, NodeStoreSignerStore(store))
        restarted.start()
        assert (restarted.locked_value, restarted.locked_round) == (block.hash, 0)
        _next_round(restarted)
        other = make_block(1, proposer_key(1, 1).address, time_ms=7)
        [prevote] = votes_in(feed_proposal(restarted, proposal_message(1, 1, other)))
        assert prevote.block_hash is None


def test_a_pol_older_than_the_lock_does_not_unlock() -> None:
    core, _ = make_core(non_proposer(1, range(3)))
    core.start()
    old = make_block(1, proposer_key(1, 0).address)
    for peer in others(core):  # a POL for `old` in round 0; its proposal never reached us
        core.handle(vote_message(peer, PREVOTE, 1, 0, old.hash))
    core.handle(Timeout(1, 0, Step.PROPOSE))
    core.handle(Timeout(1, 0, Step.PREVOTE))
    _next_round(core)
    new = make_block(1, proposer_key(1, 1).address, time_ms=5)
    feed_proposal(core, proposal_message(1, 1, new))
    for peer in others(core)[:2]:
        core.handle(vote_message(peer, PREVOTE, 1, 1, new.hash))
    assert (core.locked_value, core.locked_round) == (new.hash, 1)
    _next_round(core)
    [prevote] = votes_in(feed_proposal(core, proposal_message(1, 2, old, pol_round=0)))
    assert prevote.block_hash is None  # Alg.1 line 29: lockedRound 1 > vr 0, v != lockedValue


def test_votes_for_absurdly_far_rounds_are_not_stored() -> None:
    core, _ = make_core(non_proposer(1, range(1)))
    core.start()
    for peer in others(core):
        core.handle(vote_message(peer, PREVOTE, 1, 10**6, None))
    assert core.round == 0 and core.votes.total_power(10**6, PREVOTE) == 0


def test_an_unknown_event_is_a_type_error() -> None:
    core, _ = make_core(KEYS[0])
    core.start()
    with pytest.raises(TypeError, match="not a consensus event"):
        core.handle("hello")  # type: ignore[arg-type]
