"""Governance: proposals, thresholds, exactly-once execution, expiry, validator changes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.node.test_permissions_support import (
    address,
    approve,
    key,
    network_state,
    propose,
    run,
)
from zonechain.node.permissions import (
    GOVERNANCE_ADDRESS,
    VALIDATOR_CHANGE_DELAY,
    list_proposals,
    load_proposal,
    load_zone,
    members_of,
    validator_set_at,
)
from zonechain.node.permissions.actions import (
    AddMember,
    AddOrganisation,
    AddValidator,
    GrantRole,
    RemoveMember,
    RemoveOrganisation,
    RemoveValidator,
    RevokeRole,
    SetValidatorPower,
    SetZonePolicy,
)
from zonechain.node.permissions.authorize import authorize
from zonechain.node.permissions.errors import PermissionDenied
from zonechain.node.permissions.governance import (
    PROPOSAL_LIFETIME_MAX,
    Approve,
    Propose,
    decode_body,
    encode_body,
)
from zonechain.node.permissions.hooks import governance_hook
from zonechain.node.permissions.model import Organisation, Validator
from zonechain.node.permissions.policy import Role, parse_policy
from zonechain.node.permissions.store import load_member
from zonechain.node.types.transaction import GovernancePayload, SignedTransaction, Transaction

NEW_BANK = Organisation("bank-c", "Bank C", (key("c-admin"),))
ADD_BANK = AddOrganisation(NEW_BANK)


def test_a_proposal_lacking_approvals_changes_nothing_but_the_proposal() -> None:
    state = network_state()
    before = dict(state.items)
    outcome = propose(state, "a-admin", ADD_BANK)  # MAJORITY admin: 1 of 3 is not enough
    assert outcome.ok and outcome.proposal_id == 1
    changed = {k for k in set(state.items) | set(before) if state.items.get(k) != before.get(k)}
    assert changed == {b"gi", b"gp" + (1).to_bytes(8, "big")}
    proposal = load_proposal(state, 1)
    assert proposal is not None and proposal.status_at(10) == "open"
    assert [e.topic for e in outcome.events] == [b"governance/proposed"]
    assert all(e.contract == GOVERNANCE_ADDRESS for e in outcome.events)


def test_approvals_reaching_the_threshold_execute_exactly_once() -> None:
    state = network_state()
    propose(state, "a-admin", ADD_BANK)
    outcome = approve(state, "b-admin", 1)
    assert outcome.ok
    assert [e.topic for e in outcome.events] == [b"governance/approved", b"governance/executed"]
    member = load_member(state, address("c-admin"))
    assert member is not None and member.organisation == "bank-c"
    assert member.roles == {Role.ADMIN}
    proposal = load_proposal(state, 1)
    assert proposal is not None and proposal.status_at(11) == "executed"
    again = approve(state, "r-admin", 1, height=12)
    assert again.error is not None and again.error.code == "proposal_closed"


def test_approvals_by_members_without_the_role_do_not_count() -> None:
    state = network_state()
    propose(state, "a-admin", ADD_BANK)
    assert approve(state, "b-client", 1).ok
    assert approve(state, "r-auditor", 1).ok
    proposal = load_proposal(state, 1)
    assert proposal is not None and proposal.status_at(12) == "open"
    assert load_member(state, address("c-admin")) is None


def test_two_admins_of_one_organisation_count_once() -> None:
    state = network_state()
    propose(state, "a-admin", GrantRole(address("a-ops"), Role.ADMIN))
    assert approve(state, "a-ops", 1).ok  # now an approval of bank-a again
    proposal = load_proposal(state, 1)
    assert proposal is not None and proposal.status_at(11) == "open"


def test_expired_proposal_cannot_execute() -> None:
    state = network_state()
    propose(state, "a-admin", ADD_BANK, height=10, expiry=20)
    outcome = approve(state, "b-admin", 1, height=21)
    assert outcome.error is not None and outcome.error.code == "proposal_expired"
    assert load_member(state, address("c-admin")) is None
    proposal = load_proposal(state, 1)
    assert proposal is not None and proposal.status_at(21) == "expired"
    assert approve(state, "b-admin", 1, height=20).ok  # the expiry height itself still counts


@pytest.mark.parametrize(("height", "expiry"), [(10, 10), (10, 9),
                                                (10, 11 + PROPOSAL_LIFETIME_MAX)])
def test_expiry_must_lie_ahead_within_the_lifetime(height: int, expiry: int) -> None:
    outcome = propose(network_state(), "a-admin", ADD_BANK, height=height, expiry=expiry)
    assert outcome.error is not None and outcome.error.code == "bad_expiry"


def test_flow_errors_have_stable_codes() -> None:
    state = network_state()
    assert propose(state, "outsider", ADD_BANK).error.code == "not_a_member"  # type: ignore[union-attr]
    assert approve(state, "a-admin", 7).error.code == "unknown_proposal"  # type: ignore[union-attr]
    propose(state, "a-admin", ADD_BANK)
    assert approve(state, "a-admin", 1).error.code == "already_approved"  # type: ignore[union-attr]
    assert run(state, "a-admin", b"\x01\x09", 10).error.code == "bad_governance_body"  # type: ignore[union-attr]
    assert run(state, "a-admin", encode_body(Approve(1)) + b"\0", 10).error.code == (  # type: ignore[union-attr]
        "bad_governance_body")


def test_preconditions_are_checked_at_proposal_time() -> None:
    state = network_state()
    outcome = propose(state, "a-admin", AddMember(address("b-client"), "bank-a",
                                                  frozenset({Role.CLIENT})))
    assert outcome.error is not None and outcome.error.code == "already_member"
    assert list_proposals(state) == ()


def test_action_failing_at_execution_closes_the_proposal_failed_without_effect() -> None:
    state = network_state()
    newcomer = address("newcomer")
    propose(state, "a-admin", AddMember(newcomer, "bank-a", frozenset({Role.CLIENT})))
    propose(state, "a-admin", AddMember(newcomer, "bank-b", frozenset({Role.CLIENT})))
    assert approve(state, "b-admin", 1).ok  # executes: newcomer joins bank-a
    outcome = approve(state, "b-admin", 2)
    assert outcome.ok and outcome.events[-1].topic == b"governance/failed"
    proposal = load_proposal(state, 2)
    assert proposal is not None and proposal.result.startswith("already_member")
    member = load_member(state, newcomer)
    assert member is not None and member.organisation == "bank-a"


def test_member_and_role_changes() -> None:
    state = network_state()
    newcomer = address("newcomer")
    for action in (AddMember(newcomer, "bank-b", frozenset({Role.CLIENT})),
                   GrantRole(newcomer, Role.DEPLOYER), RevokeRole(newcomer, Role.CLIENT)):
        propose(state, "a-admin", action)
        assert approve(state, "r-admin", list_proposals(state)[-1].id).ok
    member = load_member(state, newcomer)
    assert member is not None and member.roles == {Role.DEPLOYER}
    authorize(state, "deploy", "trade-finance", newcomer)
    propose(state, "a-admin", RemoveMember(newcomer))
    approve(state, "r-admin", list_proposals(state)[-1].id)
    assert load_member(state, newcomer) is None
    assert newcomer not in {m.address for m in members_of(state, "bank-b")}
    with pytest.raises(PermissionDenied):
        authorize(state, "deploy", "trade-finance", newcomer)


def test_remove_organisation_refused_while_it_runs_validators_or_is_named() -> None:
    state = network_state()
    outcome = propose(state, "a-admin", RemoveOrganisation("regulator"))
    assert outcome.error is not None and outcome.error.code == "organisation_in_use"
    outcome = propose(state, "a-admin", RemoveOrganisation("bank-b"))
    assert outcome.error is not None and "validators" in outcome.error.message


def test_new_organisation_can_be_removed_with_its_members() -> None:
    state = network_state()
    propose(state, "a-admin", ADD_BANK)
    approve(state, "b-admin", 1)
    propose(state, "a-admin", RemoveOrganisation("bank-c"), height=12)
    approve(state, "b-admin", 2, height=13)  # 2 of 4 organisations: not yet a majority
    assert load_member(state, address("c-admin")) is not None
    approve(state, "r-admin", 2, height=13)
    assert load_member(state, address("c-admin")) is None
    assert not any(k.startswith(b"gr" + b"bank-c") for k in state.items)


def test_validator_change_takes_effect_at_the_stated_height() -> None:
    state = network_state()
    newcomer = Validator(key("val-c"), 5, "bank-a")
    propose(state, "a-admin", AddValidator(newcomer), height=10)
    approve(state, "b-admin", 1, height=11)  # executed at height 11
    effective = 11 + VALIDATOR_CHANGE_DELAY
    assert validator_set_at(state, effective - 1).get(newcomer.address) is None
    assert validator_set_at(state, effective).get(newcomer.address) == newcomer
    assert validator_set_at(state, effective + 1000).total_power == 35
    propose(state, "a-admin", SetValidatorPower(newcomer.address, 7), height=20)
    approve(state, "b-admin", 2, height=20)
    propose(state, "a-admin", RemoveValidator(address("val-r")), height=20)
    approve(state, "b-admin", 3, height=20)  # same block: both land at the same height
    assert validator_set_at(state, 21).total_power == 35
    later = validator_set_at(state, 20 + VALIDATOR_CHANGE_DELAY)
    assert later.total_power == 27
    assert later.get(address("val-r")) is None


def test_validator_set_cannot_be_emptied_or_overpowered() -> None:
    state = network_state()
    outcome = propose(state, "a-admin", SetValidatorPower(address("val-a"), (1 << 20)))
    assert outcome.error is not None and outcome.error.code == "bad_validator_set"
    for index, name in enumerate(("val-a", "val-b")):
        propose(state, "a-admin", RemoveValidator(address(name)), height=10 + index)
        approve(state, "b-admin", index + 1, height=10 + index)
    outcome = propose(state, "a-admin", RemoveValidator(address("val-r")), height=12)
    assert outcome.error is not None and outcome.error.code == "bad_validator_set"


def test_zone_policy_change_uses_the_zone_governance_policy() -> None:
    state = network_state()
    opened = SetZonePolicy("trade-finance", "deploy", parse_policy("ANY deployer"))
    propose(state, "r-admin", opened)
    approve(state, "r-auditor", 1)  # an auditor is no admin: AT_LEAST 2 admin not met
    assert load_zone(state, "trade-finance").deploy.text != "ANY deployer"  # type: ignore[union-attr]
    approve(state, "b-admin", 1)
    assert load_zone(state, "trade-finance").deploy.text == "ANY deployer"  # type: ignore[union-attr]


def test_forbidden_governance_refuses_proposals() -> None:
    state = network_state()
    propose(state, "a-admin", SetZonePolicy("trade-finance", "governance",
                                            parse_policy("FORBIDDEN")))
    approve(state, "b-admin", 1)
    outcome = propose(state, "a-admin", SetZonePolicy("trade-finance", "deploy",
                                                      parse_policy("ANY")), height=12)
    assert outcome.error is not None and outcome.error.code == "action_forbidden"


def test_removed_members_approvals_stop_counting() -> None:
    state = network_state()
    propose(state, "a-admin", ADD_BANK, height=10)
    propose(state, "b-admin", RemoveMember(address("a-admin")), height=10)
    approve(state, "r-admin", 2, height=10)  # a-admin is removed
    assert approve(state, "b-admin", 1, height=11).ok
    proposal = load_proposal(state, 1)
    assert proposal is not None and proposal.status_at(11) == "open"  # only bank-b counts now


def test_governance_hook_wraps_apply_for_the_executor() -> None:
    from zonechain.node.executor import BlockEnvironment

    state = network_state()
    body = encode_body(Propose(ADD_BANK, 50))
    tx = Transaction("zc-test", key("a-admin"), 0, 1000, "trade-finance", GovernancePayload(body))
    signed = SignedTransaction(tx, bytes(64))
    outcome = governance_hook(signed, address("a-admin"), state, BlockEnvironment("zc-test", 10, 0))
    assert outcome.ok and outcome.return_data == (1).to_bytes(8, "little")
    assert outcome.writes and outcome.gas_used == 0
    refused = governance_hook(signed, address("outsider"), state,
                              BlockEnvironment("zc-test", 10, 0))
    assert not refused.ok and refused.error is not None and refused.error.code == "not_a_member"
    assert refused.writes == {}


def test_every_action_body_round_trips() -> None:
    from zonechain.node.permissions.actions import (
        FreezeContract,
        SetContractPolicy,
        UnfreezeContract,
        UpgradeContract,
    )

    contract = b"\xc1" * 20
    actions = [
        ADD_BANK, RemoveOrganisation("bank-c"),
        AddMember(address("x"), "bank-a", frozenset({Role.CLIENT, Role.AUDITOR})),
        RemoveMember(address("x")), GrantRole(address("x"), Role.REGULATOR),
        RevokeRole(address("x"), Role.CLIENT), AddValidator(Validator(key("v"), 3, "bank-a")),
        RemoveValidator(address("v")), SetValidatorPower(address("v"), 9),
        SetZonePolicy("trade-finance", "read", parse_policy("FRACTION 2/3 auditor of bank-a")),
        SetContractPolicy(contract, parse_policy("SELF client")),
        SetContractPolicy(contract, None), UpgradeContract(contract, b"\x22" * 32),
        FreezeContract(contract), UnfreezeContract(contract),
    ]
    assert len({type(action).TAG for action in actions}) == 14
    for action in actions:
        body = Propose(action, 77)
        assert decode_body(encode_body(body)) == body


@settings(max_examples=100)
@given(st.binary(max_size=64))
def test_arbitrary_bodies_are_refused_cleanly(data: bytes) -> None:
    state = network_state()
    outcome = run(state, "a-admin", data, 10)
    if not outcome.ok:
        assert outcome.error is not None and outcome.error.code


def test_worked_example_a_new_bank_joins_trade_finance() -> None:
    """docs/GOVERNANCE.md's worked example, on the pilot template."""
    from tests.node.test_permissions_support import template_state

    state = template_state()
    bank_c = Organisation("bank-c", "Commercial Bank C", (key("bank-c-admin"),))
    assert propose(state, "central-bank-admin", AddOrganisation(bank_c)).ok
    approvers = ("bank-a-admin", "bank-b-admin", "regulator-admin", "customs-admin",
                 "tax-bureau-admin")
    for count, approver in enumerate(approvers, start=2):
        outcome = approve(state, approver, 1)
        assert outcome.ok
        executed = outcome.events[-1].topic == b"governance/executed"
        assert executed == (count == 6)  # MAJORITY of ten organisations is six
    bank_c_ops = address("bank-c-ops")
    assert propose(state, "bank-c-admin", AddMember(
        bank_c_ops, "bank-c", frozenset({Role.DEPLOYER, Role.CLIENT})), height=12).ok
    for approver in approvers:
        approve(state, approver, 2, height=12)
    member = load_member(state, bank_c_ops)
    assert member is not None and member.organisation == "bank-c"
    with pytest.raises(PermissionDenied, match="requires ANY deployer of bank-a,bank-b,"):
        authorize(state, "deploy", "trade-finance", bank_c_ops)
    opened = parse_policy("ANY deployer of bank-a,bank-b,bank-c,central-bank")
    assert propose(state, "bank-a-admin", SetZonePolicy("trade-finance", "deploy", opened),
                   height=13).ok
    outcome = approve(state, "regulator-admin", 3, height=13)
    assert outcome.events[-1].topic == b"governance/executed"
    authorize(state, "deploy", "trade-finance", bank_c_ops)


def test_consensus_validator_set_follows_governance() -> None:
    from zonechain.node.crypto import PrivateKey
    from zonechain.node.permissions.hooks import consensus_validators_at

    state = network_state()
    real_key = PrivateKey.from_seed(b"\x05" * 32).public_key
    propose(state, "a-admin", AddValidator(Validator(real_key, 4, "bank-b")), height=30)
    approve(state, "b-admin", 1, height=30)
    before = consensus_validators_at(state, 30 + VALIDATOR_CHANGE_DELAY - 1)
    after = consensus_validators_at(state, 30 + VALIDATOR_CHANGE_DELAY)
    assert (before.total_power, after.total_power) == (30, 34)
    assert before.hash != after.hash


def test_missing_or_damaged_records_are_node_faults() -> None:
    from zonechain.node.permissions.errors import RecordDamaged
    from zonechain.node.permissions.store import member_key
    from zonechain.vm.errors import NodeFault
    from zonechain.vm.state import DictState

    with pytest.raises(RecordDamaged):
        validator_set_at(DictState(), 5)
    state = network_state()
    state.apply({member_key(address("a-admin")): b"\x01\x00"})
    with pytest.raises(NodeFault):
        load_member(state, address("a-admin"))


@settings(max_examples=30)
@given(st.lists(st.tuples(st.sampled_from(["a-admin", "b-admin", "r-admin", "b-client"]),
                          st.integers(0, 3)), max_size=8))
def test_apply_is_pure_and_repeatable(steps: list[tuple[str, int]]) -> None:
    """apply never mutates its state and gives the same outcome twice (determinism)."""
    from zonechain.node.permissions.governance import apply

    actions = [ADD_BANK, GrantRole(address("b-client"), Role.DEPLOYER),
               SetZonePolicy("trade-finance", "read", parse_policy("ANY client"))]
    state = network_state()
    for height, (sender, choice) in enumerate(steps, start=10):
        body = encode_body(Approve(1) if choice == 3 else Propose(actions[choice], height + 5))
        before = dict(state.items)
        first = apply(state, address(sender), body, height)
        second = apply(state, address(sender), body, height)
        assert state.items == before
        assert (first.writes, first.events, first.proposal_id) == (
            second.writes, second.events, second.proposal_id)
        assert list(first.writes) == sorted(first.writes)
        if first.ok:
            state.apply(dict(first.writes))
