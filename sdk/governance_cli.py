"""`zonechain governance propose|approve|show|list`: governance transactions from a terminal.

    zonechain governance propose ACTION ARGS_JSON --key K [--expiry H | --lifetime N]
    zonechain governance approve ID --key K
    zonechain governance show ID [--height H]
    zonechain governance list [--status open|expired|executed|failed] [--height H]

ACTION is one of ``ACTION_BUILDERS`` (``add_validator``, ``freeze_contract``...;
dashes or underscores) and ARGS_JSON a JSON object of that builder's
parameters in sdk/governance.py, e.g.
``'{"public_key": "ab..", "power": 10, "organisation": "central-bank"}'``.
Addresses are ``zc...`` text, keys and hashes hex, roles names, policies text.

Guarantees (as every SDK command, sdk/cli.py): the same checks as the SDK (a
bad action argument is exit 2 naming it, before anything is signed); a
refused proposal or approval (``not_a_member``, ``already_approved``,
``bad_expiry``, an action's own precondition) is exit 1 with the receipt's
code; an unreachable node is exit 3; ``--json`` prints one object per result
and an ``{"error": ...}`` object on failure. ``propose`` / ``approve`` print
the proposal id and whether this transaction executed the action.
"""

from __future__ import annotations

import argparse
import inspect
import json
from collections.abc import Callable
from typing import Any, Final

from zonechain.node.cli import EXIT_OK, UserError
from zonechain.sdk import governance
from zonechain.sdk.cli import (
    _emit_json,
    _guarded,
    _print_fields,
    connect,
    load_signer,
)
from zonechain.sdk.client import DEFAULT_WAIT_TIMEOUT_S
from zonechain.sdk.errors import NotFound
from zonechain.sdk.governance import GovernanceResult, ProposalView

ACTION_BUILDERS: Final[dict[str, Callable[..., governance.Action]]] = {
    builder.__name__: builder for builder in (
        governance.add_organisation, governance.remove_organisation, governance.add_member,
        governance.remove_member, governance.grant_role, governance.revoke_role,
        governance.add_validator, governance.remove_validator, governance.set_validator_power,
        governance.set_zone_policy, governance.set_contract_policy, governance.upgrade_contract,
        governance.freeze_contract, governance.unfreeze_contract,
    )
}
"""Every action a proposal can carry, by name (the node's action NAMEs)."""
STATUSES: Final = ("open", "expired", "executed", "failed")


def register_governance(subparsers: Any, network: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("governance", help="propose, approve and read governance "
                                                      "proposals")
    commands = parser.add_subparsers(dest="governance_command", metavar="SUBCOMMAND")
    parser.set_defaults(handler=_usage)
    propose = commands.add_parser("propose", parents=[network],
                                  help="propose an action (counts as your approval)")
    propose.add_argument("action", help="one of: " + ", ".join(ACTION_BUILDERS))
    propose.add_argument("args", nargs="?", default="{}", metavar="ARGS_JSON",
                         help="the action's parameters as a JSON object")
    expiry = propose.add_mutually_exclusive_group()
    expiry.add_argument("--expiry", type=int, default=None, metavar="H",
                        help="last height at which the proposal may be approved")
    expiry.add_argument("--lifetime", type=int, default=governance.PROPOSAL_LIFETIME_DEFAULT,
                        metavar="N", help="expiry = current height + N (default "
                                          f"{governance.PROPOSAL_LIFETIME_DEFAULT})")
    approve = commands.add_parser("approve", parents=[network], help="approve a proposal")
    approve.add_argument("proposal_id", type=int, metavar="ID")
    for signed in (propose, approve):
        signed.add_argument("--key", required=True, metavar="K",
                            help="key name or file (also an account file of `zonechain init`)")
        signed.add_argument("--passphrase-env", metavar="VAR",
                            help="read the key's passphrase from this environment variable")
        signed.add_argument("--wait", type=float, default=DEFAULT_WAIT_TIMEOUT_S, metavar="S",
                            help="how long to wait for the receipt")
    show = commands.add_parser("show", parents=[network], help="one proposal")
    show.add_argument("proposal_id", type=int, metavar="ID")
    listing = commands.add_parser("list", parents=[network], help="every proposal")
    listing.add_argument("--status", choices=STATUSES, default=None)
    for reader in (show, listing):
        reader.add_argument("--height", type=int, default=None, metavar="H",
                            help="read the state after this height (default: latest)")
    propose.set_defaults(handler=_guarded(run_propose))
    approve.set_defaults(handler=_guarded(run_approve))
    show.set_defaults(handler=_guarded(run_show))
    listing.set_defaults(handler=_guarded(run_list))


def _usage(arguments: argparse.Namespace) -> int:
    raise UserError("a subcommand is required: propose, approve, show or list")


def build_action(name: str, text: str) -> governance.Action:
    """The action ``name`` with the parameters of JSON object ``text`` (UserError if unusable)."""
    builder = ACTION_BUILDERS.get(name.replace("-", "_"))
    if builder is None:
        raise UserError(f"unknown action {name!r}: one of {', '.join(ACTION_BUILDERS)}")
    try:
        parameters = json.loads(text)
    except ValueError as error:
        raise UserError(f"ARGS_JSON is not JSON: {error}") from None
    if not isinstance(parameters, dict):
        raise UserError("ARGS_JSON must be a JSON object of the action's parameters")
    signature = inspect.signature(builder)
    try:
        signature.bind(**parameters)
    except TypeError as error:
        raise UserError(f"{builder.__name__}{signature}: {error}") from None
    try:
        return builder(**parameters)
    except TypeError as error:  # a JSON value of the wrong type, e.g. a list for a name
        raise UserError(f"{name}: {error}") from None


def _positive(value: int | None, what: str) -> None:
    if value is not None and value < 1:
        raise UserError(f"{what} must be at least 1")


def run_propose(arguments: argparse.Namespace) -> int:
    action = build_action(arguments.action, arguments.args)
    _positive(arguments.expiry, "--expiry")
    _positive(arguments.lifetime, "--lifetime")
    if arguments.lifetime > governance.PROPOSAL_LIFETIME_MAX:
        raise UserError(f"--lifetime must be at most {governance.PROPOSAL_LIFETIME_MAX}")
    key = load_signer(arguments)
    with connect(arguments) as client:
        result = client.propose(key, action, expiry_height=arguments.expiry,
                                lifetime_blocks=arguments.lifetime, timeout_s=arguments.wait)
    _show_result(arguments, "proposed", action.NAME, result)
    return EXIT_OK


def run_approve(arguments: argparse.Namespace) -> int:
    _positive(arguments.proposal_id, "ID")
    key = load_signer(arguments)
    with connect(arguments) as client:
        result = client.approve(key, arguments.proposal_id, timeout_s=arguments.wait)
    _show_result(arguments, "approved", "", result)
    return EXIT_OK


def _show_result(arguments: argparse.Namespace, verb: str, action: str,
                 result: GovernanceResult) -> None:
    status = "executed" if result.executed else "failed" if result.failed else "open"
    document = {"proposal_id": result.proposal_id, "status": status,
                "executed": result.executed, "tx_hash": result.receipt.tx_hash.hex()}
    if action:
        document["action"] = action
    if arguments.json:
        _emit_json(document)
        return
    print(f"proposal #{result.proposal_id} {verb}{' (' + action + ')' if action else ''}: "
          f"{status}  (tx {result.receipt.tx_hash.hex()})")


def run_show(arguments: argparse.Namespace) -> int:
    _positive(arguments.proposal_id, "ID")
    with connect(arguments) as client:
        view = client.proposal(arguments.proposal_id, height=arguments.height)
    if view is None:
        raise NotFound(f"no proposal {arguments.proposal_id}")
    if arguments.json:
        _emit_json(view.to_json())
    else:
        _print_view(view)
    return EXIT_OK


def run_list(arguments: argparse.Namespace) -> int:
    with connect(arguments) as client:
        views = [view for view in client.proposals(height=arguments.height)
                 if arguments.status is None or view.status == arguments.status]
    if arguments.json:
        for view in views:
            _emit_json(view.to_json())
        return EXIT_OK
    for view in views:
        proposal = view.proposal
        print(f"#{proposal.id}  {view.status:<8}  {proposal.action.NAME:<20}  "
              f"approvals {len(proposal.approvals)}  expires {proposal.expiry_height}")
    if not views:
        print("no proposals")
    return EXIT_OK


def _print_view(view: ProposalView) -> None:
    document = view.to_json()
    rows = [(name, json.dumps(value) if isinstance(value, dict | list) else str(value))
            for name, value in document.items() if value is not None and value != ""]
    _print_fields(f"proposal #{view.id}", rows)
