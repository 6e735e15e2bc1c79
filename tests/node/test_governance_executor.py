"""The permissions hooks inside the real executor: one block with denials and governance."""

from __future__ import annotations

import wasmtime

from tests.node.test_permissions_support import SECTION, VALIDATORS
from zonechain.node.crypto import PrivateKey, VerifiedSignatureCache, sign_transaction
from zonechain.node.executor import BlockEnvironment, Executor
from zonechain.node.permissions.actions import FreezeContract
from zonechain.node.permissions.genesis import genesis_state_writes
from zonechain.node.permissions.governance import Approve, Propose, encode_body
from zonechain.node.permissions.hooks import governance_hook, zone_policy
from zonechain.node.types.address import account_address, contract_address
from zonechain.node.types.receipt import ReceiptStatus
from zonechain.node.types.transaction import (
    CallPayload,
    DeployPayload,
    GovernancePayload,
    Payload,
    SignedTransaction,
    Transaction,
)
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import DictState

CHAIN_ID = "permissions-test"
ZONE = "trade-finance"
NAMES = ("a-admin", "a-ops", "b-admin", "b-client", "r-admin", "r-auditor")
KEYS = {name: PrivateKey.from_seed(bytes([index + 1]) * 32) for index, name in enumerate(NAMES)}
COUNTER_WAT = """(module (memory (export "memory") 1) (func (export "ping")))"""


def tx(name: str, nonce: int, payload: Payload) -> SignedTransaction:
    key = KEYS[name]
    return sign_transaction(Transaction(CHAIN_ID, key.public_key, nonce, 5_000_000, ZONE,
                                        payload), key)


def test_denials_governance_and_freeze_in_one_block() -> None:
    code = bytes(wasmtime.wat2wasm(COUNTER_WAT))
    accounts = {name: key.public_key for name, key in KEYS.items()}
    state = DictState(dict(genesis_state_writes(SECTION, accounts=accounts,
                                                validators=VALIDATORS)))
    executor = Executor(VirtualMachine(), CHAIN_ID, zone_policy=zone_policy,
                        governance=governance_hook, signature_cache=VerifiedSignatureCache())
    a_ops = KEYS["a-ops"]
    contract = contract_address(account_address(a_ops.public_key), 0)
    block = [
        tx("b-client", 0, DeployPayload(code)),  # bank-b client: no deployer role
        tx("a-ops", 0, DeployPayload(code)),
        tx("a-ops", 1, CallPayload(contract, "ping")),
        tx("a-admin", 0, GovernancePayload(encode_body(Propose(FreezeContract(contract), 9)))),
        tx("b-admin", 0, GovernancePayload(encode_body(Approve(1)))),
        tx("a-ops", 2, CallPayload(contract, "ping")),
    ]
    receipts, writes, _ = executor.execute_transactions(
        BlockEnvironment(CHAIN_ID, 5, 0), block, state)
    statuses = [(r.status, r.error_code) for r in receipts]
    assert statuses == [
        (ReceiptStatus.REJECTED, "not_permitted"),
        (ReceiptStatus.SUCCESS, ""),
        (ReceiptStatus.SUCCESS, ""),
        (ReceiptStatus.SUCCESS, ""),
        (ReceiptStatus.SUCCESS, ""),
        (ReceiptStatus.CONTRACT_ERROR, "contract_frozen"),
    ]
    assert "requires ANY deployer of bank-a,bank-b" in receipts[0].error_message
    assert [e.topic for e in receipts[4].events] == [b"governance/approved",
                                                     b"governance/executed"]
    assert any(key.startswith(b"gp") for key in writes)
