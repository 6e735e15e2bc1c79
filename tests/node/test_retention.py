"""State retention: ``[storage] retain_heights``, ``Ledger.prune`` and the node's pruning.

What must hold: pruning deletes only tree nodes that no height in the window
uses; roots and proofs at retained heights still verify; proofs below the
window are refused with the typed error naming the provable range; values and
view calls at every height still answer (the value history is kept in full);
pruning never changes a state root (a pruned and an unpruned ledger fed the
same blocks agree at every height); a crash around a prune step and a reopen
leave a working ledger.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node.fixtures.chain import TOKEN, key, make_genesis
from tests.node.fixtures.scenario import SENDERS, scenario_block
from tests.node.test_history import block_commit
from tests.node.test_node_support import running_node, wait_until, write_single_validator_network
from zonechain.node import failpoints
from zonechain.node.accounts import account_key
from zonechain.node.config import (
    RETAIN_HEIGHTS_INIT,
    ConfigError,
    StorageSettings,
    load_genesis,
    load_node_config,
    parse_node_config,
    save_node_config,
)
from zonechain.node.init_cli import InitOptions, init_network
from zonechain.node.ledger import (
    NOBODY,
    QUERY_GAS_MAX,
    HeightUnavailable,
    InvalidRetention,
    Ledger,
)
from zonechain.node.metrics import Metrics
from zonechain.node.node import PRUNE_EVERY_HEIGHTS
from zonechain.node.state.errors import VersionPruned
from zonechain.node.state.proof import verify_proof
from zonechain.node.store import NodeStore, StateAt, StoreInputError
from zonechain.node.store.history import HistoryPruned, decode_history_key
from zonechain.node.store.layout import (
    CF_HISTORY_CHANGES,
    CF_STATE_HISTORY,
    CF_TREE_NODES,
    CF_TREE_STALE,
    decode_stale_key,
)
from zonechain.node.types.hashing import ZERO_HASH
from zonechain.sdk import Client
from zonechain.sdk.errors import InvalidRequest
from zonechain.sdk.verify import Verifier
from zonechain.vm.host.frame import CallContext
from zonechain.vm.runtime import VirtualMachine

HEIGHTS = 14
RETAIN = 4
ACCOUNTS = tuple(account_key(key(index).address) for index in range(1, SENDERS + 1))


def grow(ledger: Ledger, height: int) -> None:
    while ledger.height < height:
        ledger.apply_block(scenario_block(ledger))


def stale_versions(ledger: Ledger) -> list[int]:
    iterator = ledger.store._family(CF_TREE_STALE).iter()
    iterator.seek_to_first()
    versions: list[int] = []
    while iterator.valid():
        versions.append(decode_stale_key(iterator.key())[0])
        iterator.next()
    return versions


def assert_same_state(ledger: Ledger, archive: Ledger, height: int) -> None:
    """Every key and value after ``height`` (walked with next_key) as in ``archive``."""
    mine, theirs = ledger.state_at(height), archive.state_at(height)
    after: bytes | None = None
    while True:
        found = mine.next_key(b"", after)
        assert found == theirs.next_key(b"", after)
        if found is None:
            break
        assert mine.get(found) == theirs.get(found)
        after = found
    outcome = ledger.query(TOKEN, "balance_of", key(1).address, height=height)
    assert outcome.return_data == archive.query(
        TOKEN, "balance_of", key(1).address, height=height).return_data


def count_entries(ledger: Ledger, family: str) -> int:
    iterator = ledger.store._family(family).iter()
    iterator.seek_to_first()
    count = 0
    while iterator.valid():
        count += 1
        iterator.next()
    return count


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """An unpruned ledger of HEIGHTS blocks: the reference for every comparison."""
    with Ledger.open(tmp_path_factory.mktemp("archive") / "db", make_genesis()) as ledger:
        grow(ledger, HEIGHTS + 4)
        yield ledger


# ---- config -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("config") / "net"
    init_network(InitOptions(out=root, validators=1))
    return root / "node0" / "config.toml"


def test_init_writes_the_default_window_and_it_round_trips(config_path: Path) -> None:
    text = config_path.read_text()
    assert f"[storage]\nretain_heights = {RETAIN_HEIGHTS_INIT}\n" in text
    config = load_node_config(config_path)
    assert config.storage == StorageSettings(RETAIN_HEIGHTS_INIT)
    save_node_config(dataclasses.replace(config, storage=StorageSettings(0)), config_path)
    assert load_node_config(config_path).storage.retain_heights == 0
    config_path.write_text(text)


def test_an_absent_storage_table_or_key_means_archive(config_path: Path) -> None:
    text = config_path.read_text()
    without_key = text.replace(f"retain_heights = {RETAIN_HEIGHTS_INIT}\n", "")
    assert "[storage]\n" in without_key and "retain_heights" not in without_key
    assert parse_node_config(without_key, config_path).storage.retain_heights == 0
    without_table = without_key.replace("[storage]\n", "")
    assert parse_node_config(without_table, config_path).storage == StorageSettings()


@pytest.mark.parametrize(("value", "reason"), [
    ("-1", "must be in 0.."),
    ("9223372036854775808", "must be in 0.."),
    ('"1000"', "must be a int"),
    ("true", "must be a int"),
    ("1.5", "must be a int"),
])
def test_a_bad_retention_names_the_key(config_path: Path, value: str, reason: str) -> None:
    text = config_path.read_text().replace(
        f"retain_heights = {RETAIN_HEIGHTS_INIT}", f"retain_heights = {value}")
    with pytest.raises(ConfigError, match=reason) as caught:
        parse_node_config(text, config_path)
    assert caught.value.key == "storage.retain_heights"


def test_storage_must_be_a_table_without_unknown_keys(config_path: Path) -> None:
    text = config_path.read_text()
    with pytest.raises(ConfigError) as caught:
        parse_node_config(text.replace("retain_heights =", "retain_height ="), config_path)
    assert caught.value.key == "storage.retain_height"
    table_as_value = text.replace(f"[storage]\nretain_heights = {RETAIN_HEIGHTS_INIT}\n", "")
    table_as_value = table_as_value.replace('home = "."', 'home = "."\nstorage = 5')
    with pytest.raises(ConfigError, match="must be a table"):
        parse_node_config(table_as_value, config_path)


# ---- the ledger ---------------------------------------------------------------------------


def test_prune_keeps_the_window_and_refuses_below(tmp_path: Path, archive: Ledger) -> None:
    with Ledger.open(tmp_path / "db", make_genesis()) as ledger:
        grow(ledger, HEIGHTS)
        nodes_before = count_entries(ledger, CF_TREE_NODES)
        history_before = count_entries(ledger, CF_STATE_HISTORY)
        result = ledger.prune(RETAIN)
        floor = HEIGHTS - RETAIN
        assert result.done and result.nodes_deleted > 0 and result.history_entries_deleted > 0
        assert result.lowest_provable_height == ledger.lowest_provable_height == floor
        assert result.lowest_readable_height == ledger.lowest_readable_height == floor
        assert count_entries(ledger, CF_TREE_NODES) == nodes_before - result.nodes_deleted
        assert count_entries(ledger, CF_STATE_HISTORY) == \
            history_before - result.history_entries_deleted
        assert min(stale_versions(ledger)) > floor
        assert ledger.store.tree_pruned_below() == floor
        for height in range(floor, HEIGHTS + 1):
            assert_same_state(ledger, archive, height)
            for state_key in ACCOUNTS:
                read = ledger.read_state(state_key, height=height)
                assert read.state_root == archive.tree.root_hash(height)
                assert read.proof is not None
                verify_proof(read.state_root, state_key, read.value, read.proof)
        below = floor - 1
        with pytest.raises(HeightUnavailable, match=f"serves heights {floor}..{HEIGHTS}"):
            ledger.read_state(ACCOUNTS[0], height=below)
        with pytest.raises(HeightUnavailable, match=f"serves heights {floor}..{HEIGHTS}"):
            ledger.read_state(ACCOUNTS[0], height=below, prove=False)
        with pytest.raises(HeightUnavailable, match=f"serves heights {floor}..{HEIGHTS}"):
            ledger.query(TOKEN, "balance_of", key(1).address, height=below)
        with pytest.raises(HistoryPruned):
            ledger.store.get_at(ACCOUNTS[0], below)
        assert ledger.prune(RETAIN) == dataclasses.replace(
            result, nodes_deleted=0, history_entries_deleted=0)


def test_a_read_that_overlaps_a_prune_fails_rather_than_answer(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "db", make_genesis()) as ledger:
        grow(ledger, HEIGHTS)
        reader = ledger.store.state_at(2)  # a view call at height 2 has begun
        assert reader.get(ACCOUNTS[0]) is not None
        ledger.prune(RETAIN)
        with pytest.raises(HistoryPruned):
            reader.get(ACCOUNTS[0])
        with pytest.raises(HistoryPruned):
            reader.next_key(b"", None)
        # Inside a view call the refusal is the call's error, and the node goes on.
        context = CallContext(NOBODY, NOBODY, TOKEN, "", 2, ledger.time_at(2), ZERO_HASH)
        outcome = ledger._query_vm().query("balance_of", key(1).address, context,
                                          ledger.store.state_at(HEIGHTS - 1), QUERY_GAS_MAX)
        assert outcome.ok
        outcome = ledger._query_vm().query("balance_of", key(1).address, context, reader,
                                          QUERY_GAS_MAX)
        assert not outcome.ok and outcome.error is not None
        assert outcome.error.code == "history_pruned"


def test_an_answer_given_while_a_prune_overtook_the_call_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A contract may catch a nested call's history_pruned and answer anyway: the ledger
    # must not pass on an answer computed while the floor passed the call's height.
    with Ledger.open(tmp_path / "db", make_genesis()) as ledger:
        grow(ledger, HEIGHTS)
        original = VirtualMachine.query

        def overtaken(vm: VirtualMachine, *args: Any, **options: Any) -> Any:
            outcome = original(vm, *args, **options)
            ledger.prune(RETAIN)  # as if the consensus thread pruned meanwhile
            return outcome

        monkeypatch.setattr(VirtualMachine, "query", overtaken)
        with pytest.raises(HeightUnavailable, match="pruned during the call"):
            ledger.query(TOKEN, "balance_of", key(1).address, height=2)
        assert ledger.query(TOKEN, "balance_of", key(1).address, height=HEIGHTS - 1).ok


def test_pruning_never_changes_a_root(tmp_path: Path, archive: Ledger) -> None:
    """Prune after every block with the smallest window: every root as unpruned."""
    with Ledger.open(tmp_path / "db", make_genesis()) as ledger:
        while ledger.height < archive.height:
            ledger.apply_block(scenario_block(ledger))
            ledger.prune(1)
            assert ledger.state_root == archive.tree.root_hash(ledger.height)
            assert ledger.lowest_provable_height == max(0, ledger.height - 1)


def test_bounded_steps_reach_what_one_call_reaches(tmp_path: Path, archive: Ledger) -> None:
    with Ledger.open(tmp_path / "one", make_genesis()) as whole, \
            Ledger.open(tmp_path / "steps", make_genesis()) as stepped:
        grow(whole, HEIGHTS)
        grow(stepped, HEIGHTS)
        expected = whole.prune(RETAIN)
        steps, nodes, entries = 0, 0, 0
        floors: list[tuple[int, int]] = []
        while True:
            result = stepped.prune(RETAIN, nodes_max=3, keys_max=2)
            steps, nodes = steps + 1, nodes + result.nodes_deleted
            entries += result.history_entries_deleted
            provable, readable = result.lowest_provable_height, result.lowest_readable_height
            floors.append((provable, readable))
            # A partial step refuses what it touched and serves the rest unchanged.
            lowest = max(provable, readable)
            for height in (lowest, HEIGHTS - 1):
                read = stepped.read_state(ACCOUNTS[0], height=height)
                assert read.state_root == archive.tree.root_hash(height)
                assert read.value == archive.read_state(ACCOUNTS[0], height=height).value
                assert read.proof is not None
                verify_proof(read.state_root, ACCOUNTS[0], read.value, read.proof)
            if provable > 0:
                with pytest.raises(VersionPruned):
                    stepped.tree.get_proof(ACCOUNTS[0], provable - 1)
            if readable > 0:
                with pytest.raises(HeightUnavailable):
                    stepped.read_state(ACCOUNTS[0], height=readable - 1, prove=False)
            if result.done:
                break
        assert steps > 3 and floors == sorted(floors)
        assert (nodes, entries) == (expected.nodes_deleted, expected.history_entries_deleted)
        assert floors[-1] == (HEIGHTS - RETAIN, HEIGHTS - RETAIN)
        for family in (CF_TREE_NODES, CF_STATE_HISTORY, CF_HISTORY_CHANGES):
            assert count_entries(stepped, family) == count_entries(whole, family)


def test_bad_retention_arguments_are_refused(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "db", make_genesis()) as ledger:
        grow(ledger, 2)
        for bad in (0, -1, True, "3"):
            with pytest.raises(InvalidRetention):
                ledger.prune(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidRetention):
            ledger.prune(1, nodes_max=0)
        assert ledger.prune(5).nodes_deleted == 0  # window larger than the chain


def test_the_store_refuses_bad_prune_arguments(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "db", make_genesis()) as ledger:
        grow(ledger, 2)
        store = ledger.store
        for bad_bound in (0, -1, True, None):
            with pytest.raises(StoreInputError):
                store.prune_history_step(1, bad_bound)  # type: ignore[arg-type]
        with pytest.raises(StoreInputError):
            store.prune_tree_step(1, 0)
        for step in (lambda: store.prune_tree_step(3, None),
                     lambda: store.prune_history_step(3, 10)):
            with pytest.raises(StoreInputError, match="last committed is 2"):
                step()
        assert (store.tree_pruned_below(), store.history_pruned_below()) == (0, 0)


def test_reopen_after_pruning_keeps_the_floor_and_continues(tmp_path: Path,
                                                            archive: Ledger) -> None:
    path = tmp_path / "db"
    with Ledger.open(path, make_genesis()) as ledger:
        grow(ledger, HEIGHTS)
        ledger.prune(RETAIN)
    with Ledger.open(path, make_genesis()) as reopened:
        assert reopened.lowest_provable_height == HEIGHTS - RETAIN
        with pytest.raises(HeightUnavailable):
            reopened.read_state(ACCOUNTS[0], height=HEIGHTS - RETAIN - 1)
        grow(reopened, HEIGHTS + 4)
        assert reopened.state_root == archive.state_root
        assert reopened.prune(RETAIN).lowest_provable_height == HEIGHTS
        read = reopened.read_state(ACCOUNTS[1], height=HEIGHTS)
        assert read.proof is not None
        verify_proof(read.state_root, ACCOUNTS[1], read.value, read.proof)


@pytest.mark.parametrize(("point", "tree_written", "history_written"), [
    ("store.prune.before_write", False, False),   # the tree step's write fails
    ("store.prune.after_write", True, False),     # ... fails after it is durable
    ("store.prune.before_write@2", True, False),  # the history step's write fails
    ("store.prune.after_write@2", True, True),    # ... fails after it is durable
])
def test_a_failure_around_a_prune_write_leaves_a_consistent_store(
        tmp_path: Path, archive: Ledger, point: str, tree_written: bool,
        history_written: bool) -> None:
    path = tmp_path / "db"
    floor = HEIGHTS - RETAIN
    with Ledger.open(path, make_genesis()) as ledger:
        grow(ledger, HEIGHTS)
        name, _, hit = point.partition("@")
        failpoints.configure(f"{name}=raise@{hit or 1}")
        try:
            with pytest.raises(failpoints.FailpointTriggered):
                ledger.prune(RETAIN)
        finally:
            failpoints.reset()
        # The running ledger refuses at least what the store pruned, never serves it.
        assert ledger.lowest_provable_height == (floor if tree_written else 0)
        # The history step raises its floor before writing: refused until reopened.
        assert ledger.lowest_readable_height == (floor if hit else 0)
        assert_same_state(ledger, archive, floor)
    with Ledger.open(path, make_genesis()) as reopened:
        assert reopened.lowest_provable_height == (floor if tree_written else 0)
        assert reopened.lowest_readable_height == (floor if history_written else 0)
        if not history_written:
            assert_same_state(reopened, archive, 0)  # nothing of the history went
        assert reopened.prune(RETAIN).done
        assert reopened.lowest_readable_height == reopened.lowest_provable_height == floor
        for height in range(floor, HEIGHTS + 1):
            assert_same_state(reopened, archive, height)
        grow(reopened, HEIGHTS + 4)
        assert reopened.state_root == archive.state_root


# ---- the node -----------------------------------------------------------------------------


def test_a_node_with_a_window_prunes_and_reports_it(tmp_path: Path) -> None:
    home = write_single_validator_network(tmp_path / "net")
    path = home / "config.toml"
    config = load_node_config(path)
    save_node_config(dataclasses.replace(config, storage=StorageSettings(2)), path)
    genesis = load_genesis(home / "genesis.json")
    verifier = Verifier.from_public_keys(
        genesis.chain_id, [(v.public_key, v.power) for v in genesis.validators])
    with running_node(home) as (node, log):
        wait_until(lambda: node.ledger.lowest_readable_height >= 10, what="a prune")
        events = [json.loads(line) for line in log.getvalue().splitlines()]
        pruned = [event for event in events if event["event"] == "state_pruned"]
        assert pruned and pruned[0]["nodes_deleted"] > 0
        assert pruned[0]["history_entries_deleted"] == 0  # empty blocks rewrite no key
        assert pruned[0]["lowest_provable_height"] == pruned[0]["height"] - 2
        assert pruned[0]["lowest_readable_height"] == pruned[0]["height"] - 2
        assert pruned[0]["height"] % PRUNE_EVERY_HEIGHTS == 0
        rendered = Metrics(node._gauges).render()
        gauge = next(line for line in rendered.splitlines()
                     if line.startswith("zonechain_state_pruned_below_height "))
        assert int(gauge.split()[1]) >= 8
        probe = account_key(b"\x01" * 20)
        with Client([f"127.0.0.1:{node.client_port}"], verifier=verifier) as client:
            assert client.read_state(probe, verify=True).verified  # latest - 1: in the window
            for prove in (False, True):
                with pytest.raises(InvalidRequest, match=r"serves heights \d+\.\.\d+.*pruned"):
                    client.read_state(probe, height=1, prove=prove)


def test_a_key_deleted_below_the_floor_leaves_no_history(tmp_path: Path) -> None:
    blocks: list[dict[bytes, bytes | None]] = [
        {b"gone": b"1", b"back": b"1", b"kept": b"1"},
        {b"gone": None, b"back": None},
        {b"other": b"1"},
        {b"back": b"2"},  # re-created above the floor
        {b"other": b"2"},
    ]
    with NodeStore(tmp_path / "db", chain_id="history") as store:
        for height, writes in enumerate(blocks):
            store.commit_block(block_commit(height, writes))
        archive = [{k: store.get_at(k, h) for k in (b"gone", b"back", b"kept", b"other")}
                   for h in range(len(blocks))]
        step = store.prune_history_step(2, keys_max=100)
        assert step.done and store.history_pruned_below() == 2
        entries = [decode_history_key(raw)[0] for raw, _ in
                   store._family(CF_STATE_HISTORY).items()]
        assert b"gone" not in entries  # its tombstone went with its value
        for height in range(2, len(blocks)):
            # Only "back" (absent at 2, re-created at 3) is walked past; "gone" never is.
            view = StateAt(store, height, skips_max=1 if height < 3 else 0)
            assert {k: view.get(k) for k in archive[height]} == archive[height]
            assert view.next_key(b"", None) == min(k for k, v in archive[height].items() if v)
        with pytest.raises(HistoryPruned):
            store.get_at(b"kept", 1)
