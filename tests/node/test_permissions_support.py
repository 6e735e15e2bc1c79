"""A small permissioned network in a DictState, shared by the permissions and governance tests.

Organisations bank-a, bank-b, regulator; each has one admin and one ops
member; three validators (one per organisation, power 10); one zone,
trade-finance. Keys are fake (sha256 of a name): nothing here verifies a
signature, addresses come from the keys as usual.
"""

from __future__ import annotations

import hashlib

from zonechain.node.permissions.actions import Action
from zonechain.node.permissions.genesis import genesis_state_writes, load_template
from zonechain.node.permissions.governance import (
    Approve,
    GovernanceOutcome,
    Propose,
    apply,
    encode_body,
)
from zonechain.node.types.address import account_address
from zonechain.vm.state import DictState

ACCOUNTS = ("a-admin", "a-ops", "b-admin", "b-client", "r-admin", "r-auditor", "outsider",
            "c-admin")


def key(name: str) -> bytes:
    return hashlib.sha256(b"test-key/" + name.encode()).digest()


def address(name: str) -> bytes:
    return account_address(key(name))


class FakeValidator:
    def __init__(self, name: str, power: int = 10) -> None:
        self.name = name
        self.public_key = key(name)
        self.power = power


VALIDATORS = (FakeValidator("val-a"), FakeValidator("val-b"), FakeValidator("val-r"))

SECTION: dict[str, object] = {
    "network": {"governance": "MAJORITY admin"},
    "organisations": [
        {"id": "bank-a", "name": "Bank A", "admins": ["a-admin"],
         "members": [{"account": "a-ops", "roles": ["deployer", "client"]}],
         "validators": ["val-a"]},
        {"id": "bank-b", "name": "Bank B", "admins": ["b-admin"],
         "members": [{"account": "b-client", "roles": ["client"]}], "validators": ["val-b"]},
        {"id": "regulator", "name": "Regulator", "admins": ["r-admin"],
         "members": [{"account": "r-auditor", "roles": ["auditor", "regulator"]}],
         "validators": ["val-r"]},
    ],
    "zones": [
        {"name": "trade-finance", "description": "letters of credit",
         "deploy": "ANY deployer of bank-a,bank-b", "call": "ANY client,deployer",
         "read": "ANY", "governance": "AT_LEAST 2 admin"},
    ],
}


def network_state() -> DictState:
    writes = genesis_state_writes(SECTION, accounts={name: key(name) for name in ACCOUNTS},
                                  validators=VALIDATORS)
    return DictState(dict(writes))


def template_state() -> DictState:
    template = load_template()
    from zonechain.node.permissions.genesis import template_account_names

    accounts = {name: key(name) for name in template_account_names(template)}
    return DictState(dict(genesis_state_writes(template, accounts=accounts)))


def run(state: DictState, sender: str, body: bytes, height: int) -> GovernanceOutcome:
    """Apply a governance body; on success commit its writes to ``state``."""
    outcome = apply(state, address(sender), body, height)
    if outcome.ok:
        state.apply(dict(outcome.writes))
    else:
        assert outcome.writes == {} and outcome.events == ()
    return outcome


def propose(state: DictState, sender: str, action: Action, height: int = 10,
            expiry: int = 100) -> GovernanceOutcome:
    return run(state, sender, encode_body(Propose(action, expiry)), height)


def approve(state: DictState, sender: str, proposal_id: int, height: int = 11,
            ) -> GovernanceOutcome:
    return run(state, sender, encode_body(Approve(proposal_id)), height)


def test_the_support_network_builds() -> None:
    state = network_state()
    assert len([k for k in state.items if k.startswith(b"gm")]) == 6
