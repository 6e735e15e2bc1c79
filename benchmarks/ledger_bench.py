"""Single-node ledger throughput: blocks of token transfers, executed and committed end to end.

Each measured block holds ``--txs`` transfers of the zone token
(contracts/zones/token, built by the toolchain) from as many distinct senders,
to random receivers; senders are funded by the issuer in untimed setup blocks.
A block goes through the same stages as ``Ledger.apply_block``, timed apart:

    verify   every tx's stateless rules and ed25519 signature (cache cleared first)
    vm       header checks, then each tx: nonce, the Wasm call, receipt
    tree     the Jellyfish Merkle tree update (version = height) and the state root
    commit   one synced RocksDB batch: block, receipts, state, tree nodes

Transactions are signed before timing (signing is the client's work). After
the setup blocks the garbage collector is tuned as a node tunes it at start
(``tune_garbage_collector``: existing objects frozen, rarer collections), so
the stages are timed under the node's collection regime.

    .venv/bin/python -m zonechain.benchmarks.ledger_bench [--blocks 5] [--txs 1000]

No test asserts on these numbers; they go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from zonechain.contracts.toolchain import BuildResult, build_contract
from zonechain.node.crypto import DEFAULT_VERIFIED_CACHE, PrivateKey, sign_transaction
from zonechain.node.executor import BlockEnvironment, ExecutionResult
from zonechain.node.ledger import Genesis, GenesisContract, Ledger
from zonechain.node.node import tune_garbage_collector
from zonechain.node.types.block import Block
from zonechain.node.types.transaction import CallPayload, SignedTransaction, Transaction

CHAIN_ID = "zonechain-bench"
ZONE = "payments"
TOKEN = bytes.fromhex("70" * 20)
GENESIS_TIME_MS = 1_764_288_000_000
BLOCK_INTERVAL_MS = 1_000
TRANSFER_GAS = 200_000
MINT_AMOUNT = 1_000_000
SEED = 20261128
STAGES = ("verify", "vm", "tree", "commit")
TOKEN_SOURCE = Path(__file__).resolve().parents[1] / "contracts" / "zones" / "token"


@dataclass
class Measured:
    txs: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


class Bench:
    def __init__(self, path: Path, token: BuildResult, senders: int) -> None:
        self.token = token
        self.issuer = PrivateKey.from_seed(b"\x01" * 32)
        self.senders = [PrivateKey.from_seed(i.to_bytes(32, "big")) for i in range(2, senders + 2)]
        self.nonces = {key.address: 0 for key in [self.issuer, *self.senders]}
        self.proposer = PrivateKey.from_seed(b"\x09" * 32)
        init = token.abi.method("init").encode_args("Bench", "BNC", 2)
        genesis = Genesis(CHAIN_ID, GENESIS_TIME_MS, contracts=(
            GenesisContract(TOKEN, token.code, ZONE, self.issuer.address, init),))
        self.ledger = Ledger.open(path, genesis)

    def call(self, key: PrivateKey, method: str, *args: object) -> SignedTransaction:
        nonce = self.nonces[key.address]
        self.nonces[key.address] = nonce + 1
        payload = CallPayload(TOKEN, method, self.token.abi.method(method).encode_args(*args))
        tx = Transaction(CHAIN_ID, key.public_key, nonce, TRANSFER_GAS, ZONE, payload)
        return sign_transaction(tx, key)

    def block(self, txs: list[SignedTransaction]) -> Block:
        time_ms = GENESIS_TIME_MS + BLOCK_INTERVAL_MS * (self.ledger.height + 1)
        return self.ledger.propose_block(txs, time_ms, self.proposer)

    def fund(self, per_block: int) -> None:
        mints = [self.call(self.issuer, "mint", key.address, MINT_AMOUNT) for key in self.senders]
        for start in range(0, len(mints), per_block):
            receipts = self.ledger.apply_block(self.block(mints[start:start + per_block]))
            if not all(receipt.succeeded for receipt in receipts):
                raise SystemExit(f"funding failed: {receipts[0].error_message}")

    def transfers(self, count: int, rng: random.Random) -> list[SignedTransaction]:
        senders = rng.sample(self.senders, count)
        return [self.call(key, "transfer", rng.choice(self.senders).address, rng.randint(1, 100))
                for key in senders]

    def run_block(self, block: Block, measured: Measured) -> None:
        ledger, executor = self.ledger, self.ledger.executor
        clock = time.perf_counter
        start = clock()
        executor.verify_signatures(block.txs)
        verified = clock()
        ledger.check_header(block)
        header = block.header
        env = BlockEnvironment(header.chain_id, header.height, header.time_ms)
        receipts, writes, gas = executor.execute_transactions(env, block.txs, ledger.store)
        executed = clock()
        update = executor.update_tree(ledger.tree, header.height, writes)
        treed = clock()
        ledger.commit_checked(block, ExecutionResult(header.height, receipts, writes, gas, update))
        committed = clock()
        if not all(receipt.succeeded for receipt in receipts):
            raise SystemExit("a measured transfer failed")
        for stage, seconds in zip(STAGES, (verified - start, executed - verified,
                                           treed - executed, committed - treed), strict=True):
            measured.seconds[stage] += seconds
        measured.txs += len(block.txs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--txs", type=int, default=1_000, help="transfers per block")
    parser.add_argument("--senders", type=int, default=4_000)
    options = parser.parse_args(argv)
    token = build_contract(TOKEN_SOURCE)
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as directory:
        bench = Bench(Path(directory) / "db", token, max(options.senders, options.txs))
        bench.fund(options.txs)
        tune_garbage_collector()  # as a node does at start (node/node.py GC_THRESHOLDS)
        blocks = []
        for _ in range(options.blocks):
            blocks.append(bench.transfers(options.txs, rng))
        measured = Measured()
        for txs in blocks:
            DEFAULT_VERIFIED_CACHE.clear()
            bench.run_block(bench.block(txs), measured)
        bench.ledger.close()
    report(options, measured)
    return 0


def report(options: argparse.Namespace, measured: Measured) -> None:
    total = measured.total
    print(f"{options.blocks} blocks x {options.txs} transfers, "
          f"{max(options.senders, options.txs)} funded senders")
    print(f"end to end: {measured.txs / total:,.0f} transfers/s "
          f"({1000 * total / options.blocks:.0f} ms per block)")
    for stage in STAGES:
        seconds = measured.seconds[stage]
        print(f"  {stage:<7} {1000 * seconds / options.blocks:7.1f} ms/block  "
              f"{100 * seconds / total:5.1f}%  ({measured.txs / seconds:,.0f} tx/s alone)")


if __name__ == "__main__":
    raise SystemExit(main())
