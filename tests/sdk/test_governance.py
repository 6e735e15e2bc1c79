"""sdk/governance.py: action builders, proposal / approval transactions, results, reads.

The bytes the SDK builds are applied by the node's own ``governance.apply``
over a pilot genesis state, so a builder that drifted from the node fails here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.permissions.genesis import genesis_state_writes, load_template
from zonechain.node.permissions.governance import (
    GOVERNANCE_ADDRESS,
    TOPIC_EXECUTED,
    Approve,
    Propose,
    apply,
    decode_body,
)
from zonechain.node.permissions.store import latest_validator_set, load_member
from zonechain.node.types.address import format_address
from zonechain.node.types.receipt import Event, Receipt, ReceiptStatus
from zonechain.node.types.transaction import GovernancePayload
from zonechain.sdk import InvalidTransaction, Key, NodeError, governance
from zonechain.sdk.governance import GovernanceResult, decode_next_id, decode_proposal
from zonechain.vm.encoding import Writer
from zonechain.vm.state import DictState

CHAIN = "zonechain-test"
HEIGHT = 10
ADMINS = ("central-bank-admin", "bank-a-admin", "bank-b-admin", "regulator-admin",
          "customs-admin", "tax-bureau-admin")


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    from zonechain.node.permissions.genesis import template_account_names

    return {name: Key.generate() for name in template_account_names(load_template())}


def pilot_state(keys: dict[str, Key]) -> DictState:
    template = load_template()
    template["organisations"] = [
        dict(entry, validators=["v0"]) if entry["id"] == "central-bank" else entry
        for entry in template["organisations"]]  # type: ignore[attr-defined]

    class GenesisValidator:
        name = "v0"
        public_key = Key.generate().public_key
        power = 10

    return DictState(genesis_state_writes(
        template, accounts={name: key.public_key for name, key in keys.items()},
        validators=[GenesisValidator()]))


def body_of(tx_payload: object) -> bytes:
    assert isinstance(tx_payload, GovernancePayload)
    return tx_payload.body


def test_builders_make_the_node_actions_and_round_trip_through_the_body() -> None:
    key, other = Key.generate(), Key.generate()
    actions = [
        governance.add_organisation("bank-c", "Bank C", [key.public_key.hex()]),
        governance.remove_organisation("bank-c"),
        governance.add_member(other.address_text, "bank-a", ["deployer", "client"]),
        governance.remove_member(other.address),
        governance.grant_role(other.address, "auditor"),
        governance.revoke_role(other.address_text, "client"),
        governance.add_validator("0x" + key.public_key.hex(), 10, "central-bank"),
        governance.remove_validator(key.address),
        governance.set_validator_power(key.address_text, 20),
        governance.set_zone_policy("trade-finance", "deploy", "ANY deployer of bank-a"),
        governance.set_contract_policy(other.address, "ANY client"),
        governance.set_contract_policy(other.address, None),
        governance.upgrade_contract(other.address, "ab" * 32),
        governance.freeze_contract(other.address_text),
        governance.unfreeze_contract(other.address),
    ]
    assert len({type(action) for action in actions}) == 14
    for nonce, action in enumerate(actions):
        tx = governance.build_proposal(chain_id=CHAIN, sender=key, nonce=nonce, action=action,
                                       expiry_height=HEIGHT + 5)
        assert tx.zone == governance.GOVERNANCE_ZONE and tx.nonce == nonce
        assert decode_body(body_of(tx.payload)) == Propose(action, HEIGHT + 5)
        assert governance.action_fields(action)  # every action shows its fields
    approval = governance.build_approval(chain_id=CHAIN, sender=key, nonce=3, proposal_id=7)
    assert decode_body(body_of(approval.payload)) == Approve(7)


BAD_ACTIONS: list[tuple[Callable[[], object], str]] = [
    (lambda: governance.add_validator("zz", 10, "central-bank"), "hex"),
    (lambda: governance.add_validator("ab" * 31, 10, "central-bank"), "32 bytes"),
    (lambda: governance.add_validator("ab" * 32, 0, "central-bank"), "power"),
    (lambda: governance.add_validator("ab" * 32, "10", "central-bank"),  # type: ignore[arg-type]
     "add_validator"),
    (lambda: governance.add_member("zc-not-an-address", "bank-a", ["client"]), "member address"),
    (lambda: governance.add_member(b"\x01" * 20, "bank-a", ["owner"]), "unknown role"),
    (lambda: governance.add_member(b"\x01" * 20, "Bank A", ["client"]), "organisation"),
    (lambda: governance.set_zone_policy("trade-finance", "deploy", "ANY of"), "policy"),
    (lambda: governance.set_zone_policy("trade-finance", "write", "ANY"), "slot"),
    (lambda: governance.upgrade_contract(b"\x01" * 20, b"short"), "code hash"),
    (lambda: governance.add_organisation("bank-c", "", []), "name"),
]


@pytest.mark.parametrize(("make", "fragment"), BAD_ACTIONS)
def test_bad_action_arguments_are_invalid_transaction_naming_the_problem(
        make: Callable[[], object], fragment: str) -> None:
    with pytest.raises(InvalidTransaction) as error:
        make()
    assert fragment in str(error.value)


def test_bad_transaction_arguments_are_refused_before_signing() -> None:
    key = Key.generate()
    action = governance.remove_member(key.address)
    with pytest.raises(InvalidTransaction, match="expiry_height"):
        governance.build_proposal(chain_id=CHAIN, sender=key, nonce=0, action=action,
                                  expiry_height=0)
    with pytest.raises(InvalidTransaction, match="governance action"):
        governance.build_proposal(chain_id=CHAIN, sender=key, nonce=0,
                                  action="remove_member",  # type: ignore[arg-type]
                                  expiry_height=5)
    with pytest.raises(InvalidTransaction, match="proposal_id"):
        governance.build_approval(chain_id=CHAIN, sender=key, nonce=0, proposal_id=0)
    with pytest.raises(InvalidTransaction):
        governance.build_approval(chain_id="Bad Chain!", sender=key, nonce=0, proposal_id=1)


def test_sdk_built_votes_execute_on_the_nodes_governance_at_the_majority(
        keys: dict[str, Key]) -> None:
    state = pilot_state(keys)
    newcomer = Key.generate()
    action = governance.add_member(newcomer.address, "bank-b", ["client"])
    proposer = keys[ADMINS[0]]
    tx = governance.build_proposal(chain_id=CHAIN, sender=proposer, nonce=0, action=action,
                                   expiry_height=HEIGHT + 100)
    outcome = apply(state, proposer.address, body_of(tx.payload), HEIGHT)
    assert outcome.ok and outcome.proposal_id == 1
    state.apply(dict(outcome.writes))
    for index, admin in enumerate(ADMINS[1:], start=2):
        assert load_member(state, newcomer.address) is None  # not yet: fewer than six
        approval = governance.build_approval(chain_id=CHAIN, sender=keys[admin], nonce=0,
                                             proposal_id=1)
        outcome = apply(state, keys[admin].address, body_of(approval.payload), HEIGHT + index)
        assert outcome.ok, outcome.error
        state.apply(dict(outcome.writes))
    member = load_member(state, newcomer.address)
    assert member is not None and member.organisation == "bank-b"
    view = decode_proposal(state.get(governance.proposal_key(1)) or b"", HEIGHT + 7)
    assert view.status == "executed" and len(view.proposal.approvals) == len(ADMINS)
    document = view.to_json()
    assert document["action"] == "add_member"
    assert document["fields"]["address"] == format_address(newcomer.address)
    assert document["fields"]["roles"] == ["client"]
    assert decode_next_id(state.get(governance.NEXT_PROPOSAL_ID_KEY)) == 2
    assert latest_validator_set(state) is not None


def receipt(return_data: bytes, topics: tuple[bytes, ...]) -> Receipt:
    events = tuple(Event(GOVERNANCE_ADDRESS, topic, b"") for topic in topics)
    return Receipt(b"\x01" * 32, ReceiptStatus.SUCCESS, 0, return_data, events)


def test_result_reads_the_proposal_id_and_execution_from_the_receipt() -> None:
    proposal_id = bytes(Writer().u64(42))
    result = GovernanceResult.from_receipt(receipt(proposal_id, (TOPIC_EXECUTED,)))
    assert (result.proposal_id, result.executed, result.failed) == (42, True, False)
    assert not GovernanceResult.from_receipt(receipt(proposal_id, ())).executed
    with pytest.raises(NodeError):
        GovernanceResult.from_receipt(receipt(b"\x01", ()))


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=80))
def test_damaged_records_are_node_errors_never_decoding_tracebacks(data: bytes) -> None:
    for read in (lambda: decode_proposal(data, 1), lambda: decode_next_id(data)):
        with contextlib.suppress(NodeError):
            read()
