"""Evidence in blocks (Ledger.propose_block / check_block) and the test-fault switches.

In-process and fast: the multi-process behaviour is in test_faults_devnet.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from zonechain.node.crypto import PrivateKey, sign_vote
from zonechain.node.executor import InvalidBlock
from zonechain.node.faults import (
    ENVIRONMENT_VARIABLE,
    FAULTS_FILE,
    NO_FAULTS,
    FaultInjector,
    FaultPlan,
    FaultPlanError,
    save_plan,
)
from zonechain.node.ledger import INVALID_EVIDENCE, Genesis, Ledger
from zonechain.node.types.evidence import DuplicateVoteEvidence
from zonechain.node.types.vote import Vote, VoteType

CHAIN_ID = "evidence-test"
GENESIS_TIME_MS = 1_700_000_000_000
VALIDATOR, OUTSIDER, PROPOSER = (PrivateKey.from_seed(bytes([n]) * 32) for n in (1, 2, 3))


def equivocation(key: PrivateKey, height: int = 1, chain_id: str = CHAIN_ID,
                 ) -> DuplicateVoteEvidence:
    first = sign_vote(key, VoteType.PREVOTE, chain_id, height, 0, bytes([7]) * 32)
    second = sign_vote(key, VoteType.PREVOTE, chain_id, height, 0, None)
    return DuplicateVoteEvidence.from_votes(first, second)


def forged_vote(vote: Vote) -> Vote:
    """``vote`` with a signature its validator never made."""
    return Vote(vote.type, vote.chain_id, vote.height, vote.round, vote.block_hash,
                vote.validator, bytes(64))


def keys_of_validators(address: bytes, height: int) -> bytes | None:
    return VALIDATOR.public_key if address == VALIDATOR.address else None


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "db", Genesis(CHAIN_ID, GENESIS_TIME_MS),
                     evidence_keys=keys_of_validators) as opened:
        yield opened


def propose(ledger: Ledger, *evidence: DuplicateVoteEvidence) -> object:
    block = ledger.propose_block((), GENESIS_TIME_MS + 1, PROPOSER, evidence=evidence)
    return ledger.check_block(block)


def test_a_block_carries_verified_evidence_and_commits(ledger: Ledger) -> None:
    item = equivocation(VALIDATOR)
    block = ledger.propose_block((), GENESIS_TIME_MS + 1, PROPOSER, evidence=(item,))
    assert block.evidence == (item,)
    block.check_contents()  # the header's evidence root matches
    ledger.apply_block(block)
    assert ledger.height == 1


@pytest.mark.parametrize("case", ["outsider", "forged", "other_chain", "future", "twice"])
def test_bad_evidence_makes_the_block_invalid(ledger: Ledger, case: str) -> None:
    good = equivocation(VALIDATOR)
    items = {
        "outsider": (equivocation(OUTSIDER),),
        "forged": (DuplicateVoteEvidence.from_votes(good.vote_a, forged_vote(good.vote_b)),),
        "other_chain": (equivocation(VALIDATOR, chain_id="another-chain"),),
        "future": (equivocation(VALIDATOR, height=2),),
        "twice": (good, good),
    }[case]
    with pytest.raises(InvalidBlock) as caught:
        propose(ledger, *items)
    assert caught.value.code == INVALID_EVIDENCE
    assert ledger.height == 0


def test_a_ledger_without_validator_keys_accepts_no_evidence(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "db", Genesis(CHAIN_ID, GENESIS_TIME_MS)) as plain:
        with pytest.raises(InvalidBlock) as caught:
            propose(plain, equivocation(VALIDATOR))
        assert caught.value.code == INVALID_EVIDENCE
        propose(plain)  # no evidence: fine


# ---- node/faults.py ------------------------------------------------------------------


def test_faults_are_off_without_the_environment_variable(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    save_plan(tmp_path, FaultPlan(isolated_peers=frozenset({"node1"}), equivocate=True))
    injector = FaultInjector.from_environment(tmp_path)
    assert not injector.enabled
    assert injector.plan() == NO_FAULTS and not injector.drops("node1")
    vote = sign_vote(VALIDATOR, VoteType.PRECOMMIT, CHAIN_ID, 1, 0, None)
    assert injector.conflicting_vote(VALIDATOR, vote) is None
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "yes")  # only exactly "1" enables
    assert not FaultInjector.from_environment(tmp_path).enabled


def test_the_plan_is_re_read_when_the_file_changes(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "1")
    injector = FaultInjector.from_environment(tmp_path)
    assert injector.enabled and injector.plan() == NO_FAULTS  # no file: no faults
    save_plan(tmp_path, FaultPlan(isolated_peers=frozenset({"node2", "node3"})))
    assert injector.drops("node2") and not injector.drops("node1")
    save_plan(tmp_path, FaultPlan(equivocate=True, isolated_peers=frozenset({"node1"})))
    assert injector.drops("node1") and not injector.drops("node2")
    os.remove(tmp_path / FAULTS_FILE)
    assert injector.plan() == NO_FAULTS


def test_equivocation_signs_a_valid_conflicting_vote(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "1")
    save_plan(tmp_path, FaultPlan(equivocate=True))
    injector = FaultInjector.from_environment(tmp_path)
    for block_hash in (None, bytes([5]) * 32):
        vote = sign_vote(VALIDATOR, VoteType.PREVOTE, CHAIN_ID, 4, 2, block_hash)
        twin = injector.conflicting_vote(VALIDATOR, vote)
        assert twin is not None and twin.block_hash != vote.block_hash
        evidence = DuplicateVoteEvidence.from_votes(vote, twin)  # a well-formed equivocation
        assert evidence.validator == VALIDATOR.address
    other = sign_vote(OUTSIDER, VoteType.PREVOTE, CHAIN_ID, 4, 2, None)
    assert injector.conflicting_vote(VALIDATOR, other) is None  # only our own votes


@pytest.mark.parametrize("text", ["not json", "[]", '{"isolated_peers": "node1"}',
                                  '{"equivocate": 1}', '{"partition": []}'])
def test_a_bad_faults_file_is_a_loud_error(tmp_path: Path, text: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "1")
    (tmp_path / FAULTS_FILE).write_text(text)
    with pytest.raises(FaultPlanError):
        FaultInjector.from_environment(tmp_path).plan()


def test_plans_round_trip() -> None:
    plan = FaultPlan(frozenset({"b", "a"}), withhold_proposals=True, equivocate=False)
    assert FaultPlan.decode(plan.encode()) == plan
