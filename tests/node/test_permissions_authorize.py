"""authorize(): deploy / call / read refused with the rule named; the genesis template."""

from __future__ import annotations

import json

import pytest

from tests.node.test_permissions_support import (
    SECTION,
    VALIDATORS,
    address,
    key,
    network_state,
    template_state,
)
from zonechain.node.permissions import (
    GenesisPermissionsError,
    PermissionDenied,
    authorize,
    genesis_state_writes,
    list_organisations,
    list_zones,
    load_template,
    members_of,
    validator_set_at,
)
from zonechain.node.permissions.hooks import zone_policy
from zonechain.node.permissions.model import Zone, encode_contract_policy
from zonechain.node.permissions.policy import Role, parse_policy
from zonechain.node.permissions.store import contract_policy_key
from zonechain.node.types.transaction import CallPayload, DeployPayload, Transaction
from zonechain.vm.metadata import ContractMetadata
from zonechain.vm.state import DictState, contract_meta_key

CONTRACT = b"\xc1" * 20
ZONE = "trade-finance"

PILOT_ZONES = {
    "manufacturing", "data-sharing", "energy-consumption", "law-enforcement", "criminal-trials",
    "taxation", "copyright-inspection", "human-society", "healthcare", "education",
    "civil-affairs", "risk-control", "trade-finance", "equity-market", "cross-border-finance",
}


def with_contract(state: DictState, deployer: str = "a-ops", zone: str = ZONE) -> DictState:
    metadata = ContractMetadata(b"\x11" * 32, zone, address(deployer))
    state.apply({contract_meta_key(CONTRACT): metadata.encode()})
    return state


def denial(state: DictState, action: str, sender: str, zone: str = ZONE,
           contract: bytes | None = None) -> PermissionDenied:
    with pytest.raises(PermissionDenied) as raised:
        authorize(state, action, zone, address(sender), contract)
    return raised.value


def test_deployer_of_a_listed_bank_may_deploy() -> None:
    authorize(network_state(), "deploy", ZONE, address("a-ops"))


def test_deploy_refusal_names_the_rule_and_the_sender_roles() -> None:
    refused = denial(network_state(), "deploy", "b-client")
    assert refused.code == "not_permitted"
    assert refused.message == ("deploy to zone trade-finance requires ANY deployer of "
                               "bank-a,bank-b: sender (organisation bank-b) has role client")


def test_outsider_call_and_read_are_refused() -> None:
    state = with_contract(network_state())
    refused = denial(state, "call", "outsider", contract=CONTRACT)
    assert "requires ANY deployer,client" in refused.message
    assert "sender is not a member of any organisation" in refused.message
    refused = denial(state, "read", "outsider", contract=CONTRACT)
    assert refused.message.startswith("read of contract zc")
    assert "requires ANY:" in refused.message


def test_member_may_call_and_read() -> None:
    state = with_contract(network_state())
    authorize(state, "call", ZONE, address("b-client"), CONTRACT)
    authorize(state, "read", ZONE, address("r-auditor"), CONTRACT)


def test_auditor_without_client_role_cannot_call() -> None:
    state = with_contract(network_state())
    refused = denial(state, "call", "r-auditor", contract=CONTRACT)
    assert "has roles regulator,auditor" in refused.message


def test_contract_policy_overrides_the_zone_call_policy() -> None:
    state = with_contract(network_state())
    state.apply({contract_policy_key(CONTRACT): encode_contract_policy(
        parse_policy("SELF client"))})
    authorize(state, "call", ZONE, address("a-ops"), CONTRACT)  # deployer's own organisation
    refused = denial(state, "call", "b-client", contract=CONTRACT)
    assert "requires SELF client" in refused.message


def test_unknown_zone_and_zone_mismatch_are_refused() -> None:
    state = with_contract(network_state())
    assert denial(state, "deploy", "a-ops", zone="nowhere").code == "unknown_zone"
    state.apply({b"gz" + b"other": Zone("other", *(parse_policy("ANY"),) * 4).encode()})
    refused = denial(state, "call", "outsider", zone="other", contract=CONTRACT)
    assert refused.code == "zone_mismatch"


def test_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        authorize(network_state(), "write", ZONE, address("a-ops"))


def test_zone_policy_hook_maps_denials() -> None:
    state = with_contract(network_state())
    deploy = Transaction("zc-test", key("b-client"), 0, 1000, ZONE, DeployPayload(b"\0asm"))
    found = zone_policy(deploy, address("b-client"), state)
    assert found is not None and found.code == "not_permitted"
    call = Transaction("zc-test", key("b-client"), 0, 1000, ZONE, CallPayload(CONTRACT, "noop"))
    assert zone_policy(call, address("b-client"), state) is None
    assert zone_policy(deploy, address("b-client"), DictState()) is None  # no permissions: open


def test_queries_over_the_genesis_state() -> None:
    state = network_state()
    assert [o.id for o in list_organisations(state)] == ["bank-a", "bank-b", "regulator"]
    members = members_of(state, "bank-a")
    assert {m.address for m in members} == {address("a-admin"), address("a-ops")}
    assert next(m for m in members if m.address == address("a-ops")).roles == {
        Role.DEPLOYER, Role.CLIENT}
    validators = validator_set_at(state, 1)
    assert sorted(v.organisation for v in validators.validators) == [
        "bank-a", "bank-b", "regulator"]
    assert validators.total_power == 30


def test_template_has_the_fifteen_pilot_zones() -> None:
    state = template_state()
    zones = list_zones(state)
    assert {zone.name for zone in zones} == PILOT_ZONES
    organisations = {o.id for o in list_organisations(state)}
    assert {"central-bank", "bank-a", "bank-b", "regulator", "customs"} <= organisations
    authorize(state, "deploy", "trade-finance", address("bank-a-ops"))
    refused = denial(state, "deploy", "court-ops", zone="trade-finance")
    assert "requires ANY deployer of bank-a,bank-b,central-bank" in refused.message


def test_template_is_valid_json_with_canonical_policies() -> None:
    template = load_template()
    for zone in template["zones"]:  # type: ignore[attr-defined]
        for slot in ("deploy", "call", "read", "governance"):
            assert parse_policy(zone[slot]).text == zone[slot]
    json.dumps(template)


@pytest.mark.parametrize(("change", "where"), [
    (lambda s: s["zones"][0].__setitem__("deploy", "ANY clerk"), "zones[0].deploy"),
    (lambda s: s["zones"][0].__setitem__("call", "ANY of bank-z"), "zones[0].call"),
    (lambda s: s["zones"].append(dict(s["zones"][0])), "zones[1].name"),
    (lambda s: s["organisations"][1].__setitem__("admins", ["a-admin"]), "organisations[1]"),
    (lambda s: s["organisations"][0].__setitem__("colour", "red"), "organisations[0].colour"),
    (lambda s: s["organisations"][0]["members"][0].__setitem__("roles", ["boss"]),
     "organisations[0].members[0].roles[0]"),
    (lambda s: s["organisations"][0].__setitem__("admins", ["nobody"]),
     "organisations[0].admins[0]"),
    (lambda s: s["organisations"][0].__setitem__("validators", []),
     "network.default_validator_organisation"),
    (lambda s: s["organisations"][0].__setitem__("validators", ["val-b"]),
     "organisations[1].validators[0]"),
])
def test_bad_genesis_sections_name_the_key(change: object, where: str) -> None:
    section = json.loads(json.dumps(SECTION))
    change(section)  # type: ignore[operator]
    with pytest.raises(GenesisPermissionsError) as raised:
        genesis_state_writes(section, accounts={n: key(n) for n in ("a-admin", "a-ops",
                             "b-admin", "b-client", "r-admin", "r-auditor")},
                             validators=VALIDATORS)
    assert raised.value.key == where


def test_approvals_from_signer_addresses() -> None:
    from zonechain.node.permissions.authorize import approvals_from_signers

    state = network_state()
    found = approvals_from_signers(state, [address("a-ops"), address("r-admin"),
                                           address("outsider")])
    assert found == {("bank-a", Role.DEPLOYER), ("bank-a", Role.CLIENT),
                     ("regulator", Role.ADMIN)}


def test_writes_for_a_loaded_genesis() -> None:
    from dataclasses import dataclass

    from tests.node.test_permissions_support import FakeValidator
    from zonechain.node.permissions.genesis import template_account_names, writes_for_genesis

    @dataclass
    class Account:
        name: str
        public_key: bytes

    @dataclass
    class Genesis:
        zones: list[object]
        organisations: list[object]
        validators: list[FakeValidator]
        accounts: list[Account]

    template = load_template()
    accounts = [Account(name, key(name)) for name in template_account_names(template)]
    genesis = Genesis(template["zones"], template["organisations"],  # type: ignore[arg-type]
                      [FakeValidator("validator-0")], accounts)
    writes = writes_for_genesis(genesis, template["network"])  # type: ignore[arg-type]
    state = DictState(dict(writes))
    assert validator_set_at(state, 0).validators[0].organisation == "central-bank"
    with pytest.raises(GenesisPermissionsError, match="belongs to no organisation"):
        writes_for_genesis(genesis)
    assert writes_for_genesis(Genesis([], [], [], [])) == {}
