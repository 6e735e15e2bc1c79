"""The harness on the ledger executor: same receipts as the VM backend, plus the chain's rules.

The executor backend (the default) must give exactly the receipts and state
of the VM backend (the smaller reference) for anything the VM backend covers,
and add what only the executor does: validity refusals, zone-policy denials
and governance, seen through the harness's own errors.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.crypto import sign_transaction
from zonechain.node.executor import BLOCK_GAS_MAX
from zonechain.node.permissions.actions import FreezeContract, UnfreezeContract
from zonechain.node.permissions.governance import GOVERNANCE_ADDRESS
from zonechain.node.types.receipt import ReceiptStatus
from zonechain.node.types.transaction import CallPayload, Transaction
from zonechain.sdk.testing import (
    Chain,
    ContractFailed,
    ContractHandle,
    ExecutorBackend,
    HarnessError,
    InvalidTransaction,
    VmBackend,
    account,
)

REPOSITORY = Path(__file__).resolve().parents[2]
TOKEN_DIR = REPOSITORY / "contracts" / "zones" / "token"
PROBE_DIR = REPOSITORY / "tests" / "contracts" / "probe"
ZONE = "trade-finance"

SECTION: dict[str, object] = {
    "network": {"governance": "MAJORITY admin"},
    "organisations": [
        {"id": "bank-a", "name": "Bank A", "admins": ["a-admin"],
         "members": [{"account": "a-ops", "roles": ["deployer", "client"]}]},
        {"id": "bank-b", "name": "Bank B", "admins": ["b-admin"],
         "members": [{"account": "b-client", "roles": ["client"]}]},
        {"id": "regulator", "name": "Regulator", "admins": ["r-admin"]},
    ],
    "zones": [
        {"name": ZONE, "description": "letters of credit",
         "deploy": "ANY deployer of bank-a,bank-b", "call": "ANY client,deployer",
         "read": "ANY", "governance": "AT_LEAST 2 admin"},
    ],
}
"""Account names here are the harness's: ``chain.account("a-ops")`` is bank-a's deployer."""


def both_chains(zone: str = "default") -> tuple[Chain, Chain]:
    return Chain(zone=zone, backend="executor"), Chain(zone=zone, backend="vm")


def token_scenario(chain: Chain) -> None:
    """Deploys, calls, failures of every kind, a nested call and a new block."""
    issuer, alice, bob = chain.account("issuer"), chain.account("alice"), chain.account("bob")
    token = chain.deploy(issuer, TOKEN_DIR, "Euro Deposit", "EURD", 2)
    probe = chain.deploy(alice, PROBE_DIR)
    token.call(issuer).mint(alice, 1_000)
    token.call(alice).transfer(bob, 300)
    token.call(bob, check=False).transfer(alice, 301)             # aborted
    token.call(issuer, check=False).mint(bob, 1)                   # fine
    token.call(alice, check=False, gas_limit=500).mint(alice, 1)   # out of gas
    probe.call(alice, check=False).fail_with("x" * 3_000)          # long abort message
    assert token.abi is not None
    probe.call(alice).call_other(token, "approve", token.abi.method("approve").encode_args(bob, 5))
    chain.deploy_raw(bob, b"\0asm not really")                     # rejected code
    chain.call(alice, bytes(20), "missing")                        # no contract there
    chain.advance(3, ms=5_000)
    probe.call(alice).context()
    probe.call(alice).store(b"k", 7)


def test_the_same_scenario_gives_identical_receipts_and_state() -> None:
    on_executor, on_vm = both_chains(zone=ZONE)
    token_scenario(on_executor)
    token_scenario(on_vm)
    assert isinstance(on_executor.backend, ExecutorBackend)
    assert isinstance(on_vm.backend, VmBackend)
    assert len(on_executor.results) == 13
    assert on_executor.results == on_vm.results        # status, gas, events, return data...
    assert on_executor.items() == on_vm.items()        # state, nonces included
    failed = [(r.method, r.error_code) for r in on_executor.results if not r.ok]
    assert failed == [("transfer", "aborted"), ("mint", "out_of_gas"), ("fail_with", "aborted"),
                      ("deploy", "invalid_wasm"), ("missing", "contract_not_found")]


@settings(max_examples=8)
@given(steps=st.lists(st.tuples(st.sampled_from(["mint", "transfer", "burn_gas"]),
                                st.sampled_from(["alice", "bob", "issuer"]),
                                st.sampled_from(["alice", "bob"]),
                                st.integers(0, 2_000)), max_size=8))
def test_random_token_traffic_agrees_on_both_backends(
    steps: list[tuple[str, str, str, int]],
) -> None:
    chains = both_chains()
    for chain in chains:
        token = chain.deploy(chain.account("issuer"), TOKEN_DIR, "T", "T", 0)
        for method, sender, to, amount in steps:
            caller = token.call(chain.account(sender), check=False,
                                gas_limit=amount if method == "burn_gas" else None)
            (caller.transfer if method == "transfer" else caller.mint)(chain.account(to), amount)
    assert chains[0].results == chains[1].results
    assert chains[0].items() == chains[1].items()


def test_each_transaction_carries_the_executor_receipt(chain: Chain) -> None:
    alice = chain.account("alice")
    chain.deploy(alice, PROBE_DIR)
    backend = chain.backend
    assert isinstance(backend, ExecutorBackend)
    tx = Transaction(chain.chain_id, alice.public_key, chain.nonce(alice), 1_000_000, "default",
                     CallPayload(chain.contracts[0].address, "next_id"))
    signed = sign_transaction(tx, alice.key)
    execution = backend.execute(signed, chain.block)
    receipt = execution.receipt
    assert receipt is not None and receipt.tx_hash == signed.hash
    assert (receipt.status, receipt.gas_used, receipt.return_data) == (
        ReceiptStatus.SUCCESS, execution.gas_used, execution.return_data)
    assert chain.nonce(alice) == 2


def test_the_executor_s_validity_rules_raise_invalid_transaction(chain: Chain) -> None:
    alice = chain.account("alice")
    probe = chain.deploy(alice, PROBE_DIR)
    before = chain.items()
    with pytest.raises(InvalidTransaction, match="gas_limit_too_high"):
        probe.call(alice, gas_limit=BLOCK_GAS_MAX + 1).next_id()
    backend = chain.backend
    wrong_chain = sign_transaction(Transaction("elsewhere", alice.public_key, 1, 1_000, "default",
                                               CallPayload(probe.address, "next_id")), alice.key)
    with pytest.raises(InvalidTransaction, match="wrong_chain"):
        backend.execute(wrong_chain, chain.block)
    replayed = sign_transaction(Transaction(chain.chain_id, alice.public_key, 0, 1_000, "default",
                                            CallPayload(probe.address, "next_id")), alice.key)
    with pytest.raises(InvalidTransaction, match="bad_nonce"):
        backend.execute(replayed, chain.block)
    assert chain.items() == before and chain.nonce(alice) == 1
    # The VM backend does not know the executor's bound: one of the documented differences.
    assert Chain(backend="vm").deploy(alice, PROBE_DIR).call(
        alice, gas_limit=BLOCK_GAS_MAX + 1).next_id().ok


def test_backend_and_permissions_options_are_checked() -> None:
    with pytest.raises(HarnessError, match="backend must be one of"):
        Chain(backend="wasm")
    with pytest.raises(HarnessError, match="executor backend"):
        Chain(backend="vm", permissions=SECTION)
    with pytest.raises(HarnessError, match="permissions must be"):
        Chain(permissions="pilot")
    with pytest.raises(HarnessError, match="zones"):
        Chain(permissions={"organisations": [], "zones": [{"name": ZONE, "deploy": "ANY ?"}]})
    mine = VmBackend()
    assert Chain(backend=mine).backend is mine


# --- permissions ------------------------------------------------------------------------


@pytest.fixture
def permissioned() -> Chain:
    return Chain(zone=ZONE, permissions=SECTION)


@pytest.fixture
def token(permissioned: Chain) -> ContractHandle:
    return permissioned.deploy(permissioned.account("a-ops"), TOKEN_DIR, "Euro", "EUR", 2)


def test_a_zone_policy_refusal_is_a_contract_failure_naming_the_rule(
    permissioned: Chain, token: ContractHandle,
) -> None:
    client, outsider = permissioned.account("b-client"), permissioned.account("outsider")
    before = permissioned.items()
    with permissioned.expect_error(code="not_permitted",
                                   message="requires ANY deployer of bank-a,bank-b") as refused:
        permissioned.deploy(client, TOKEN_DIR, "Mine", "MINE", 0)
    assert refused.error is not None and refused.error.gas_used == 0
    with pytest.raises(ContractFailed) as call_refused:
        token.call(outsider).mint(outsider, 1)
    assert call_refused.value.code == "not_permitted"
    assert "requires ANY deployer,client" in call_refused.value.message
    assert call_refused.value.receipt.writes == {} and call_refused.value.gas_used == 0
    # Refused transactions still use their nonce, as on the chain; nothing else changes.
    assert permissioned.nonce(client) == 1 and permissioned.nonce(outsider) == 1
    changed = {key for key in permissioned.items() if before.get(key) != permissioned.get(key)}
    assert changed == {b"a" + client, b"a" + outsider}
    token.call(permissioned.account("a-ops")).mint(client, 5)   # allowed roles pass
    assert token.query(client).balance_of(client) == 5


def test_a_governance_freeze_makes_calls_fail_with_contract_frozen(
    permissioned: Chain, token: ContractHandle,
) -> None:
    ops = permissioned.account("a-ops")
    token.call(ops).mint(ops, 10)
    proposed = permissioned.propose(permissioned.account("a-admin"), FreezeContract(token.address))
    assert proposed.value == 1 and proposed.contract == GOVERNANCE_ADDRESS
    assert proposed.event_items() == [("governance/proposed", {
        "proposal": 1, "actor": permissioned.account("a-admin"), "action": "freeze_contract"})]
    token.call(ops).mint(ops, 1)                                   # one admin is not enough
    snapshot = permissioned.snapshot()
    approved = permissioned.approve(permissioned.account("b-admin"), 1)
    assert [event.name for event in approved.events] == ["governance/approved",
                                                        "governance/executed"]
    with permissioned.expect_error(code="contract_frozen"):
        token.call(ops).mint(ops, 1)
    assert token.query().balance_of(ops) == 11                    # reads still work
    permissioned.revert(snapshot)                                  # revert undoes governance
    token.call(ops).mint(ops, 1)
    permissioned.approve(permissioned.account("b-admin"), 1)
    permissioned.propose(permissioned.account("r-admin"), UnfreezeContract(token.address))
    permissioned.approve(permissioned.account("a-admin"), 2)
    assert token.call(ops).mint(ops, 1).ok


def test_governance_refusals_are_contract_failures(permissioned: Chain,
                                                   token: ContractHandle) -> None:
    with permissioned.expect_error(code="not_a_member"):
        permissioned.propose(permissioned.account("outsider"), FreezeContract(token.address))
    refused = permissioned.approve(permissioned.account("a-admin"), 7, check=False)
    assert not refused.ok and refused.value is None and refused.gas_used == 0
    with pytest.raises(ContractFailed) as unavailable:           # no permissions: no governance
        open_chain = Chain()
        open_chain.propose(open_chain.account("alice"), FreezeContract(token.address))
    assert unavailable.value.code == "governance_unavailable"
    with pytest.raises(HarnessError, match="u64"):
        permissioned.approve(permissioned.account("a-admin"), -1)


def test_the_pilot_template_is_one_option_away() -> None:
    chain = Chain(zone=ZONE, permissions="template")
    deployed = chain.deploy(chain.account("bank-a-ops"), TOKEN_DIR, "Euro", "EUR", 2)
    assert deployed.query().symbol() == "EUR"
    with chain.expect_error(code="not_permitted"):
        chain.deploy(account("alice"), TOKEN_DIR, "Euro", "EUR", 2)


def test_the_guide_s_permissions_example_runs_as_written() -> None:
    guide = (REPOSITORY / "docs" / "CONTRACTS.md").read_text(encoding="utf-8")
    section = guide.split("### Permissions and governance in tests", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```\n(.*?)```", section, flags=re.DOTALL)
    namespace: dict[str, object] = {"Chain": Chain, "TOKEN": TOKEN_DIR}
    exec(compile(example, "CONTRACTS.md", "exec"), namespace)
    chain = namespace["chain"]
    assert isinstance(chain, Chain) and chain.last is not None
    assert chain.last.error_code == "contract_frozen"
