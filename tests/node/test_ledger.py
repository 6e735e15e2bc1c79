"""The ledger: genesis, header rules, atomic commits, restart checks, queries and proofs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.node.fixtures.chain import (
    CHAIN_ID,
    GENESIS_TIME_MS,
    TOKEN,
    key,
    make_genesis,
    mint,
    transfer,
)
from tests.node.fixtures.scenario import run as run_scenario
from tests.node.fixtures.scenario import run_in_child, scenario_block
from zonechain.node import ledger as ledger_module
from zonechain.node.accounts import account_key
from zonechain.node.executor import BAD_NONCE, InvalidBlock
from zonechain.node.ledger import (
    Genesis,
    GenesisContract,
    GenesisError,
    GenesisMismatch,
    HeightUnavailable,
    Ledger,
    StateRootMismatch,
)
from zonechain.node.state.proof import verify_proof
from zonechain.node.store.layout import CF_META, META_STATE_ROOT
from zonechain.node.types.block import Block, receipts_root
from zonechain.node.types.commit import Commit, CommitSignature
from zonechain.node.types.hashing import ZERO_HASH
from zonechain.node.types.receipt import Receipt

ALICE, BOB, PROPOSER = key(1), key(2), key(99)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "db", make_genesis()) as opened:
        yield opened


def next_block(ledger: Ledger, txs: list, offset_ms: int = 1_000) -> Block:  # type: ignore[type-arg]
    return ledger.propose_block(txs, GENESIS_TIME_MS + offset_ms * (ledger.height + 1), PROPOSER)


def balance(ledger: Ledger, owner: bytes) -> int:
    outcome = ledger.query(TOKEN, "balance_of", owner)
    assert outcome.ok, outcome.error
    return int.from_bytes(outcome.return_data, "little")


def test_genesis_is_height_zero_with_the_token(ledger: Ledger) -> None:
    assert ledger.height == 0
    assert ledger.last_block_hash == ZERO_HASH
    assert ledger.state_root == ledger.store.state_root() == ledger.tree.root_hash(0)
    assert ledger.last_receipts_root == receipts_root(())
    assert balance(ledger, ALICE.address) == 0


def test_genesis_accounts_and_failing_contract(tmp_path: Path) -> None:
    genesis = Genesis(CHAIN_ID, GENESIS_TIME_MS, accounts=((ALICE.address, 5),))
    with Ledger.open(tmp_path / "a", genesis) as opened:
        with pytest.raises(InvalidBlock) as caught:
            opened.apply_block(next_block(opened, [mint(ALICE, 0, ALICE.address, 1)]))
        assert caught.value.code == BAD_NONCE
        opened.apply_block(next_block(opened, [mint(ALICE, 5, ALICE.address, 1)]))
    bad = Genesis(CHAIN_ID, GENESIS_TIME_MS, contracts=(GenesisContract(TOKEN, b"\0asm", "z"),))
    with pytest.raises(GenesisError):
        Ledger.open(tmp_path / "b", bad)


def test_blocks_apply_and_store_receipts(ledger: Ledger) -> None:
    txs = [mint(ALICE, 0, ALICE.address, 500), transfer(ALICE, 1, BOB.address, 120)]
    block = next_block(ledger, txs)
    root_before = ledger.state_root
    receipts = ledger.apply_block(block)
    assert all(r.succeeded for r in receipts)
    assert ledger.height == 1 and ledger.last_block_hash == block.hash
    assert ledger.state_root != root_before
    assert ledger.store.state_root() == ledger.state_root
    assert Receipt.decode(ledger.store.load_receipt(txs[1].hash) or b"") == receipts[1]
    assert [balance(ledger, k.address) for k in (ALICE, BOB)] == [380, 120]
    follower = next_block(ledger, [transfer(BOB, 0, ALICE.address, 20)])
    assert follower.header.last_state_root == ledger.state_root
    assert follower.header.last_receipts_root == receipts_root(receipts)
    ledger.apply_block(follower)
    assert [balance(ledger, k.address) for k in (ALICE, BOB)] == [400, 100]


def _header_cases(ledger: Ledger) -> dict[str, Block]:
    good = next_block(ledger, [mint(ALICE, 1, ALICE.address, 1)])
    header = good.header

    def with_header(**changes: object) -> Block:
        return replace(good, header=replace(header, **changes))  # type: ignore[arg-type]

    return {
        "wrong_height": with_header(height=header.height + 1),
        "wrong_previous_hash": with_header(previous_block_hash=b"\x01" * 32),
        "wrong_state_root": with_header(last_state_root=b"\x02" * 32),
        "wrong_receipts_root": with_header(last_receipts_root=b"\x03" * 32),
        "time_not_monotonic": with_header(time_ms=GENESIS_TIME_MS + 1_000),
        "malformed_block": with_header(tx_root=b"\x04" * 32),
        "wrong_chain": with_header(chain_id="another-chain"),
    }


@pytest.mark.parametrize("code", [
    "wrong_height", "wrong_previous_hash", "wrong_state_root", "wrong_receipts_root",
    "time_not_monotonic", "malformed_block", "wrong_chain",
])
def test_invalid_header_commits_nothing(ledger: Ledger, code: str) -> None:
    ledger.apply_block(next_block(ledger, [mint(ALICE, 0, ALICE.address, 1)]))
    root, height, block_hash = ledger.state_root, ledger.height, ledger.last_block_hash
    with pytest.raises(InvalidBlock) as caught:
        ledger.apply_block(_header_cases(ledger)[code])
    assert caught.value.code == code
    assert (ledger.state_root, ledger.height, ledger.last_block_hash) == (root, height, block_hash)
    assert ledger.store.latest_height() == 1 and ledger.store.state_root() == root
    ledger.apply_block(next_block(ledger, [mint(ALICE, 1, ALICE.address, 1)]))
    assert ledger.height == 2


def test_invalid_tx_commits_nothing(ledger: Ledger) -> None:
    block = next_block(ledger, [mint(ALICE, 0, ALICE.address, 1), mint(BOB, 3, BOB.address, 1)])
    with pytest.raises(InvalidBlock) as caught:
        ledger.apply_block(block)
    assert (caught.value.code, caught.value.tx_index) == (BAD_NONCE, 1)
    assert ledger.store.latest_height() == 0
    assert ledger.store.get(account_key(ALICE.address)) is None
    assert ledger.store.load_receipt(block.txs[0].hash) is None


def test_restart_reads_the_tip_and_continues(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Ledger.open(path, make_genesis()) as ledger:
        for _ in range(3):
            ledger.apply_block(scenario_block(ledger))
        tip = (ledger.height, ledger.state_root, ledger.last_block_hash,
               ledger.last_receipts_root)
        expected_next = scenario_block(ledger)
    with Ledger.open(path, make_genesis()) as reopened:
        assert (reopened.height, reopened.state_root, reopened.last_block_hash,
                reopened.last_receipts_root) == tip
        assert scenario_block(reopened) == expected_next
        reopened.apply_block(expected_next)


def test_reopen_with_another_genesis_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db"
    Ledger.open(path, make_genesis()).close()
    with pytest.raises(GenesisMismatch):
        Ledger.open(path, make_genesis(GENESIS_TIME_MS + 1))


def test_reopen_with_a_damaged_root_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Ledger.open(path, make_genesis()) as ledger:
        ledger.apply_block(next_block(ledger, [mint(ALICE, 0, ALICE.address, 1)]))
        # Simulate a damaged store: the recorded root no longer matches the tree.
        ledger.store._write([(CF_META, META_STATE_ROOT, b"\x05" * 32)])
    with pytest.raises(StateRootMismatch):
        Ledger.open(path, make_genesis())


def test_read_state_proves_present_and_absent_keys(ledger: Ledger) -> None:
    ledger.apply_block(next_block(ledger, [mint(ALICE, 0, ALICE.address, 1)]))
    present = ledger.read_state(account_key(ALICE.address))
    assert present.value is not None and present.proof is not None
    assert present.state_root == ledger.state_root and present.height == 1
    verify_proof(present.state_root, present.key, present.value, present.proof)
    absent = ledger.read_state(account_key(BOB.address))
    assert absent.value is None and absent.proof is not None
    verify_proof(absent.state_root, absent.key, None, absent.proof)
    with pytest.raises(HeightUnavailable):
        ledger.read_state(account_key(ALICE.address), height=2)  # above the latest
    with pytest.raises(HeightUnavailable):
        ledger.query(TOKEN, "balance_of", ALICE.address, height=2)


def test_query_cannot_write(ledger: Ledger) -> None:
    outcome = ledger.query(TOKEN, "mint", ALICE.address + bytes(16))
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.code == "read_only"
    assert ledger.store.latest_height() == 0


def test_same_blocks_give_same_roots_across_processes(tmp_path: Path) -> None:
    outputs = []
    for name in ("first", "second"):
        result = run_in_child(tmp_path / name, 6)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout.split("\n"))
    assert outputs[0] == outputs[1]
    assert len([line for line in outputs[0] if line]) == 7
    in_process = run_scenario(str(tmp_path / "here"), 6)
    assert [" ".join(map(str, row)) for row in in_process] == [
        line for line in outputs[0] if line]


def test_genesis_encoding_round_trips_and_state_entries_apply(tmp_path: Path) -> None:
    genesis = replace(make_genesis(), accounts=((ALICE.address, 2),),
                      state=((b"g/network", b"policy"), (b"g/zone/trade", b"open")))
    assert Genesis.decode(genesis.encode()) == genesis
    assert genesis.hash != make_genesis().hash
    with Ledger.open(tmp_path / "db", genesis) as ledger:
        read = ledger.read_state(b"g/zone/trade")
        assert read.value == b"open" and read.proof is not None
        verify_proof(ledger.state_root, b"g/zone/trade", b"open", read.proof)
    with pytest.raises(ValueError, match="sorted"):
        replace(genesis, state=((b"b", b""), (b"a", b"")))
    with pytest.raises(ValueError, match="sorted"):
        replace(genesis, accounts=((BOB.address, 0), (BOB.address, 1)))


def test_a_block_over_the_canonical_size_limit_is_invalid_and_not_committed(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    block = next_block(ledger, [mint(ALICE, 0, ALICE.address, 1)])
    monkeypatch.setattr(ledger_module, "BLOCK_BYTES_MAX", len(block.encode()) - 1)
    for check in (ledger.precheck_block, ledger.check_block, ledger.apply_block):
        with pytest.raises(InvalidBlock) as caught:
            check(block)
        assert caught.value.code == "block_too_large"
    assert ledger.height == 0


def test_a_certificate_for_another_block_is_refused(ledger: Ledger) -> None:
    first = next_block(ledger, [mint(ALICE, 0, ALICE.address, 1)])
    result = ledger.check_block(first)
    wrong = Commit(first.height, 0, b"\x07" * 32, (CommitSignature(b"\x01" * 20, b"\x02" * 64),))
    with pytest.raises(InvalidBlock) as caught:
        ledger.commit_checked(first, result, wrong)
    assert caught.value.code == "wrong_certificate"
    assert ledger.height == 0
