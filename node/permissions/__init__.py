"""Organisations, zones, policies and governance (the permissioned part of zonechain).

    policy.py      the rule language: parse / encode / evaluate
    model.py       records: Organisation, Member, Validator(Set), Zone, Network
    store.py       their keys under b"g" and the read functions (queries)
    authorize.py   authorize(state, action, zone, sender, contract) for deploy/call/read
    actions.py     governance actions and what each writes
    governance.py  propose / approve / execute: apply(state, sender, body, height)
    genesis.py     genesis section -> initial state writes; the pilot template
    hooks.py       adapters to the executor's and mempool's hooks (import it directly)

Everything here is pure over a ``StateReader``: nothing writes state; callers
commit the writes returned.
"""

from zonechain.node.permissions.actions import VALIDATOR_CHANGE_DELAY
from zonechain.node.permissions.authorize import authorize
from zonechain.node.permissions.errors import (
    GenesisPermissionsError,
    GovernanceRejected,
    PermissionDenied,
    PolicyError,
)
from zonechain.node.permissions.genesis import genesis_state_writes, load_template
from zonechain.node.permissions.governance import (
    GOVERNANCE_ADDRESS,
    GovernanceOutcome,
    apply,
    list_proposals,
    load_proposal,
)
from zonechain.node.permissions.policy import (
    Decision,
    EvaluationContext,
    Policy,
    Role,
    evaluate,
    parse_policy,
)
from zonechain.node.permissions.store import (
    list_organisations,
    list_zones,
    load_zone,
    members_of,
    validator_set_at,
)

__all__ = [
    "GOVERNANCE_ADDRESS", "VALIDATOR_CHANGE_DELAY", "Decision", "EvaluationContext",
    "GenesisPermissionsError", "GovernanceOutcome", "GovernanceRejected", "PermissionDenied",
    "Policy", "PolicyError", "Role", "apply", "authorize", "evaluate", "genesis_state_writes",
    "list_organisations", "list_proposals", "list_zones", "load_proposal", "load_template",
    "load_zone", "members_of", "parse_policy", "validator_set_at",
]
