"""Transactions and signatures: ed25519 verify rate of PyNaCl vs `cryptography`, sign rate,
and canonical encode + tx id of a transfer call, per second on one core.

Why: ``zonechain.node.crypto.verify_signature`` picks its backend from this
measurement (verification is the most expensive per-transaction step).

    .venv/bin/python -m zonechain.benchmarks.tx_bench [--seconds 1.0]

No test asserts on these numbers; they go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from zonechain.node.crypto import PrivateKey, sign_transaction, verify_signature
from zonechain.node.types import (
    CallPayload,
    SignedTransaction,
    Transaction,
    account_address,
    contract_address,
)
from zonechain.vm.encoding import Writer

TRANSFER_ARGS = bytes(Writer().fixed(bytes(20), 20).u128(250))
"""Recipient address and u128 amount, as the zone token contracts take them."""


def transfer(key: PrivateKey, nonce: int) -> Transaction:
    """A token transfer call (the contract is the key's first deploy)."""
    contract = contract_address(account_address(key.public_key), 0)
    return Transaction("zonechain-bench", key.public_key, nonce, 100_000, "payments",
                       CallPayload(contract, "transfer", TRANSFER_ARGS))


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Operations per second, run in batches until ``seconds`` have passed."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            operation()
        count += 200
    return count / (time.perf_counter() - start)


def encode_and_hash(key: PrivateKey, signature: bytes) -> Callable[[], bytes]:
    """Build (validated), encode and hash a fresh signed transfer: nothing cached."""
    template = transfer(key, 0)
    nonces = iter(range(1 << 62))

    def run() -> bytes:
        tx = Transaction(template.chain_id, template.sender, next(nonces), template.gas_limit,
                         template.zone, template.payload)
        return SignedTransaction(tx, signature).hash

    return run


def measure(seconds: float) -> dict[str, float]:
    key = PrivateKey.from_seed(bytes([1]) * 32)
    signed = sign_transaction(transfer(key, 1), key)
    message = signed.tx.signing_bytes()
    public_key = Ed25519PublicKey.from_public_bytes(key.public_key)
    return {
        "verify/s PyNaCl (chosen)": rate(
            lambda: verify_signature(key.public_key, message, signed.signature), seconds),
        "verify/s cryptography": rate(
            lambda: public_key.verify(signed.signature, message), seconds),
        "sign/s PyNaCl": rate(lambda: key.sign(message), seconds),
        "encode+tx id/s (transfer)": rate(encode_and_hash(key, signed.signature), seconds),
        "decode/s (transfer)": rate(lambda: SignedTransaction.decode(signed.encode()), seconds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    arguments = parser.parse_args(argv)
    key = PrivateKey.from_seed(bytes([1]) * 32)
    print(f"transfer tx: {len(sign_transaction(transfer(key, 1), key).encode())} bytes")
    for name, value in measure(arguments.seconds).items():
        print(f"{name:28s} {value:>10,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
