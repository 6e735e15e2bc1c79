"""Genesis (canonical hash, strict loading) and node config.toml (typed errors per key)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.config import (
    BLOCK_INTERVAL_MS_DEFAULT,
    ConfigError,
    Genesis,
    GenesisAccount,
    GenesisError,
    GenesisValidator,
    HostPort,
    JsonValue,
    encode_genesis_json,
    encode_key_file,
    load_key_seed,
    load_node_config,
    load_validator_key,
    parse_genesis,
    parse_node_config,
)
from zonechain.node.crypto import PrivateKey
from zonechain.node.init_cli import InitOptions, init_network


def _genesis(**changes: object) -> Genesis:
    keys = [PrivateKey.from_seed(bytes([index]) * 32) for index in range(3)]
    fields: dict[str, object] = {
        "chain_id": "zonechain-test",
        "genesis_time_ms": 1_795_000_000_000,
        "ca_fingerprint": bytes(range(32)),
        "validators": tuple(GenesisValidator(f"node{index}", key.public_key, 10,
                                             HostPort("127.0.0.1", 26600 + 10 * index))
                            for index, key in enumerate(keys)),
        "accounts": (GenesisAccount("account0", keys[0].public_key),),
        "zones": ({"name": "payments", "policy": {"deployers": ["org-a"], "open": False}},),
        "organisations": ({"name": "org-a", "admins": []},),
    }
    fields.update(changes)
    return Genesis(**fields)  # type: ignore[arg-type]


# ---- genesis -----------------------------------------------------------------------------------


def test_genesis_round_trips_through_json() -> None:
    genesis = _genesis()
    assert parse_genesis(encode_genesis_json(genesis)) == genesis


def test_genesis_hash_ignores_json_formatting_and_key_order() -> None:
    genesis = _genesis()
    document = json.loads(encode_genesis_json(genesis))
    reordered = {key: document[key] for key in reversed(list(document))}
    reordered["zones"] = [{"policy": {"open": False, "deployers": ["org-a"]}, "name": "payments"}]
    text = json.dumps(reordered, separators=(",", ":"))
    assert parse_genesis(text).hash == genesis.hash


@pytest.mark.parametrize("change", [
    {"chain_id": "zonechain-other"},
    {"genesis_time_ms": 1_795_000_000_001},
    {"ca_fingerprint": bytes(32)},
    {"accounts": ()},
    {"zones": ()},
    {"organisations": ({"name": "org-b", "admins": []},)},
])
def test_every_genesis_field_is_in_the_hash(change: dict[str, object]) -> None:
    assert _genesis(**change).hash != _genesis().hash


def test_validator_order_and_power_are_in_the_hash() -> None:
    genesis = _genesis()
    validators = genesis.validators
    assert _genesis(validators=validators[::-1]).hash != genesis.hash
    heavier = GenesisValidator(validators[0].name, validators[0].public_key, 11,
                               validators[0].p2p_address)
    assert _genesis(validators=(heavier, *validators[1:])).hash != genesis.hash


json_values: st.SearchStrategy[JsonValue] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60)
@given(zone=st.dictionaries(st.text(max_size=6), json_values, max_size=4))
def test_free_form_zone_objects_hash_the_same_after_a_json_round_trip(
        zone: dict[str, JsonValue]) -> None:
    genesis = _genesis(zones=(zone,))
    shuffled = json.loads(json.dumps(genesis.to_json(), sort_keys=True))
    again = parse_genesis(json.dumps(shuffled))
    assert again == genesis and again.hash == genesis.hash


def _mutated(edit: str) -> str:
    document = json.loads(encode_genesis_json(_genesis()))
    exec(edit, {"d": document})  # small, readable edits of the parsed document
    return json.dumps(document)


@pytest.mark.parametrize(("edit", "key"), [
    ("d['surprise'] = 1", "surprise"),
    ("del d['chain_id']", "chain_id"),
    ("d['chain_id'] = 'bad id!'", "chain_id"),
    ("d['format_version'] = 2", "format_version"),
    ("d['genesis_time_ms'] = -1", "genesis_time_ms"),
    ("d['ca_fingerprint'] = 'zz'", "ca_fingerprint"),
    ("d['validators'] = []", "validators"),
    ("d['validators'][1]['power'] = 0", "validators[1].power"),
    ("d['validators'][1]['power'] = True", "validators[1].power"),
    ("d['validators'][0]['address'] = d['validators'][1]['address']", "validators[0].address"),
    ("d['validators'][2]['public_key'] = d['validators'][0]['public_key']",
     "validators[2].address"),
    ("d['validators'][1]['name'] = 'node0'", "validators[1].name"),
    ("d['validators'][0]['p2p_address'] = 'nowhere'", "validators[0].p2p_address"),
    ("d['accounts'][0]['name'] = 'Upper'", "accounts[0].name"),
    ("d['zones'] = [1]", "zones[0]"),
    ("d['zones'][0]['limit'] = 1.5", "(document)"),
])
def test_bad_genesis_names_the_key(edit: str, key: str) -> None:
    with pytest.raises(GenesisError) as caught:
        parse_genesis(_mutated(edit), "net/genesis.json")
    assert caught.value.key == key
    assert str(caught.value).startswith("net/genesis.json: ")


def test_duplicate_json_keys_and_deep_nesting_are_refused() -> None:
    text = encode_genesis_json(_genesis()).replace('"chain_id": "zonechain-test",',
                                                   '"chain_id": "a", "chain_id": "b",', 1)
    with pytest.raises(GenesisError, match="duplicate key"):
        parse_genesis(text)
    deep: JsonValue = "leaf"
    for _ in range(40):
        deep = [deep]
    with pytest.raises(GenesisError, match="nested deeper"):
        parse_genesis(json.dumps({**_genesis().to_json(), "zones": [{"x": deep}]}))


# ---- node config ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_config_text(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("config") / "net"
    init_network(InitOptions(out=root, validators=2))
    path = root / "node0" / "config.toml"
    return path, path.read_text()


def test_written_config_loads_with_resolved_paths(node_config_text: tuple[Path, str]) -> None:
    path, _ = node_config_text
    config = load_node_config(path)
    assert config.paths.genesis == path.parent.resolve() / "genesis.json"
    assert config.paths.validator_key == path.parent.resolve() / "keys" / "validator.key"
    assert config.consensus.propose_ms > 0 and config.mempool.txs_max > 0


@pytest.mark.parametrize(("old", "new", "key"), [
    ('node_id = "node0"', 'node_id = "Node 0"', "node_id"),
    ('node_id = "node0"', "node_id = 5", "node_id"),
    ('listen = "127.0.0.1:26600"', 'listen = "127.0.0.1:99999"', "p2p.listen"),
    ('listen = "127.0.0.1:26601"', 'listen = "no-port"', "client.listen"),
    ("propose_ms = 3000", 'propose_ms = "3s"', "consensus.propose_ms"),
    ("propose_ms = 3000", "propose_ms = 0", "consensus.propose_ms"),
    ("txs_max = 10000", "txs_max = -1", "mempool.txs_max"),
    ("txs_max = 10000", "txs_maximum = 10000", "mempool.txs_maximum"),
    ("[metrics]", "[metrix]", "metrix"),
    ('peers = ["node1@127.0.0.1:26610"]', 'peers = ["127.0.0.1:26610"]', "p2p.peers[0]"),
    ('peers = ["node1@127.0.0.1:26610"]', "peers = [1]", "p2p.peers[0]"),
    ('genesis = "genesis.json"', 'genesis = ""', "paths.genesis"),
    ('node_id = "node0"', 'node_id = "node0"\nnode_id = "x"', "(document)"),
    ("retain_heights = 1000", "retain_heights = -1", "storage.retain_heights"),
    ("retain_heights = 1000", "retain_heights = false", "storage.retain_heights"),
    ("retain_heights = 1000", "retain_blocks = 1000", "storage.retain_blocks"),
    ("block_interval_ms = 200", "block_interval_ms = -1", "consensus.block_interval_ms"),
    ("block_interval_ms = 200", "block_interval_ms = 1500", "consensus.block_interval_ms"),
])
def test_bad_config_names_the_key_and_file(node_config_text: tuple[Path, str],
                                           old: str, new: str, key: str) -> None:
    path, text = node_config_text
    assert old in text
    with pytest.raises(ConfigError) as caught:
        parse_node_config(text.replace(old, new, 1), path)
    assert caught.value.key == key
    assert caught.value.path == str(path)


def test_block_interval_is_optional_and_may_be_zero(
        node_config_text: tuple[Path, str]) -> None:
    path, text = node_config_text
    assert parse_node_config(text, path).consensus.block_interval_ms == 200
    older = text.replace("block_interval_ms = 200\n", "")  # a config written before the key
    assert older != text
    assert parse_node_config(older, path).consensus.block_interval_ms == \
        BLOCK_INTERVAL_MS_DEFAULT
    at_once = text.replace("block_interval_ms = 200", "block_interval_ms = 0")
    assert parse_node_config(at_once, path).consensus.block_interval_ms == 0
    # Absent with a short propose timeout: the most it allows, so a save and reload
    # of the config (which writes the key) still loads.
    short = older.replace("propose_ms = 3000", "propose_ms = 300")
    timeouts = parse_node_config(short, path).consensus
    assert timeouts.block_interval_ms == 149 < timeouts.propose_ms / 2
    with pytest.raises(ValueError, match="block_interval_ms"):
        dataclasses.replace(timeouts, block_interval_ms=150)
    tiny = short.replace("propose_ms = 300", "propose_ms = 1")
    assert parse_node_config(tiny, path).consensus.block_interval_ms == 0


def test_missing_table_is_named(node_config_text: tuple[Path, str]) -> None:
    path, text = node_config_text
    without_mempool = text.replace("[mempool]\ntxs_max = 10000\nbytes_max = 67108864\n", "")
    with pytest.raises(ConfigError, match="mempool: missing table"):
        parse_node_config(without_mempool, path)


def test_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_node_config(tmp_path / "absent.toml")


# ---- key files ----------------------------------------------------------------------------------


def test_key_file_round_trip_and_refusals(tmp_path: Path) -> None:
    key = PrivateKey.from_seed(bytes(range(32)))
    path = tmp_path / "validator.key"
    path.write_bytes(encode_key_file(key.seed, key.public_key))
    os.chmod(path, 0o600)
    assert load_validator_key(path).public_key == key.public_key
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="too open"):
        load_key_seed(path)
    other = PrivateKey.from_seed(bytes(32))
    path.write_bytes(encode_key_file(key.seed, other.public_key))
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="does not match"):
        load_validator_key(path)
    path.write_text('{"type": "rsa"}')
    with pytest.raises(ConfigError, match="type"):
        load_key_seed(path)
