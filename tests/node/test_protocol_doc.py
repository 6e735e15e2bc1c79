"""The test vectors in docs/PROTOCOL.md are what the code computes."""

from __future__ import annotations

import re
from pathlib import Path

from zonechain.node.crypto import PrivateKey, sign_transaction, sign_vote, verify_transaction
from zonechain.node.types import (
    CallPayload,
    SignedTransaction,
    Transaction,
    VoteType,
    account_address,
    contract_address,
    format_address,
    merkle_root,
)
from zonechain.vm.encoding import Writer

DOC = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"
MARKER = "<!-- test-vectors: parsed by tests/node/test_protocol_doc.py -->"


def doc_vectors() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(re.escape(MARKER) + r"\s*```text\n(.*?)```", text, re.DOTALL)
    assert block is not None, "test-vector block not found in docs/PROTOCOL.md"
    vectors: dict[str, str] = {}
    for line in block.group(1).splitlines():
        name, _, value = line.partition(" = ")
        vectors[name.strip()] = value.strip()
    return vectors


def computed_vectors() -> dict[str, str]:
    key = PrivateKey.from_seed(bytes([1]) * 32)
    recipient = PrivateKey.from_seed(bytes([2]) * 32)
    sender = account_address(key.public_key)
    contract = contract_address(sender, 0)
    args = bytes(Writer().fixed(recipient.address, 20).u128(250))
    tx = Transaction(
        chain_id="zonechain-test", sender=key.public_key, nonce=1, gas_limit=100_000,
        zone="trade-finance", payload=CallPayload(contract, "transfer", args),
        expiry_height=1_000,
    )
    signed = sign_transaction(tx, key)
    vote = sign_vote(key, VoteType.PRECOMMIT, "zonechain-test", 5, 0, bytes([0xAA]) * 32)
    return {
        "private_key_seed": key.seed.hex(),
        "public_key": key.public_key.hex(),
        "account_address": sender.hex(),
        "account_address_text": format_address(sender),
        "contract_address_nonce_0": contract.hex(),
        "call_args": args.hex(),
        "transaction": tx.encode().hex(),
        "signature": signed.signature.hex(),
        "tx_hash": signed.hash.hex(),
        "vote": vote.encode().hex(),
        "merkle_root_01_02_03": merkle_root([bytes([i]) * 32 for i in (1, 2, 3)]).hex(),
        "merkle_root_empty": merkle_root([]).hex(),
    }


def test_doc_vectors_match_the_code() -> None:
    assert doc_vectors() == computed_vectors()


def test_doc_transaction_decodes_and_verifies() -> None:
    vectors = doc_vectors()
    raw = bytes.fromhex(vectors["transaction"]) + bytes.fromhex(vectors["signature"])
    signed = SignedTransaction.decode(raw)
    verify_transaction(signed, cache=None)
    assert signed.hash.hex() == vectors["tx_hash"]
    assert signed.tx.sender.hex() == vectors["public_key"]
