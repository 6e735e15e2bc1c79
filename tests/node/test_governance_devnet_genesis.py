"""`zonechain init --permissions pilot|none|FILE`: the pilot genesis the devnet and demo share.

No processes: init writes the directory, the node's own genesis code reads it back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zonechain.node.cli import UserError, main
from zonechain.node.config import load_genesis, load_key_seed
from zonechain.node.init_cli import (
    InitOptions,
    init_network,
    load_permissions,
    permissions_section,
)
from zonechain.node.permissions.genesis import (
    load_template,
    template_account_names,
    writes_for_genesis,
)
from zonechain.node.permissions.store import latest_validator_set, list_zones, load_member
from zonechain.node.types.address import account_address
from zonechain.vm.state import DictState


def test_pilot_permissions_give_every_node_the_template_and_its_account_keys(
        tmp_path: Path) -> None:
    out = tmp_path / "net"
    genesis = init_network(InitOptions(out=out, validators=4, full_nodes=1, accounts=1,
                                       permissions="pilot"))
    assert len(genesis.zones) == 15 and len(genesis.organisations) == 10
    hashes = {load_genesis(path).hash for path in out.glob("node*/genesis.json")}
    assert hashes == {genesis.hash} and len(list(out.glob("node*/genesis.json"))) == 5
    state = DictState(writes_for_genesis(genesis))
    assert len(list_zones(state)) == 15
    recorded = latest_validator_set(state)
    assert recorded is not None
    assert {v.organisation for v in recorded[1].validators} == {"central-bank"}
    assert {v.public_key for v in recorded[1].validators} == \
        {v.public_key for v in genesis.validators}
    names = template_account_names(load_template())
    for name in names:  # each account key is on disk and is a member of its organisation
        seed, public_key = load_key_seed(out / "accounts" / f"{name}.key")
        assert len(seed) == 32
        member = load_member(state, account_address(public_key))
        assert member is not None and name.startswith(member.organisation)
    assert (out / "accounts" / "account0.key").is_file()


def test_none_is_an_open_chain(tmp_path: Path) -> None:
    genesis = init_network(InitOptions(out=tmp_path / "net", validators=1))
    assert genesis.zones == () and genesis.organisations == ()
    assert writes_for_genesis(genesis) == {}


def test_a_permissions_file_is_checked_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    section = load_template()
    section["zones"] = [{"name": "payments", "deploy": "ANY deployer of nobody",
                         "call": "ANY", "read": "ANY", "governance": "MAJORITY admin"}]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(section))
    out = tmp_path / "net"
    code = main(["init", "--validators", "1", "--out", str(out), "--permissions", str(bad)])
    assert code == 2 and "permissions:" in capsys.readouterr().err
    assert not out.exists()
    for choice, message in (("missing.json", "not pilot, none or a readable file"),
                            (str(tmp_path), "not pilot, none or a readable file")):
        with pytest.raises(UserError, match=message):
            load_permissions(str(tmp_path / choice) if choice == "missing.json" else choice)
    not_json = tmp_path / "text.json"
    not_json.write_text("zones: []")
    with pytest.raises(UserError, match="not a JSON document"):
        load_permissions(str(not_json))


def test_a_valid_file_with_its_own_zone_is_installed(tmp_path: Path) -> None:
    section = load_template()
    zones = section["zones"]
    assert isinstance(zones, list)
    section["zones"] = [zones[0]]
    good = tmp_path / "one-zone.json"
    good.write_text(json.dumps(section))
    genesis = init_network(InitOptions(out=tmp_path / "net", validators=2,
                                       permissions=str(good)))
    assert [zone.name for zone in list_zones(DictState(writes_for_genesis(genesis)))] == \
        [zones[0]["name"]]


def test_section_rules_the_genesis_file_cannot_express_are_refused() -> None:
    section = load_template()
    section["network"] = {"governance": "ALL admin"}
    with pytest.raises(UserError, match="default network policy"):
        permissions_section(section, ["node0"])
    with pytest.raises(UserError, match="unknown organisation"):
        permissions_section(load_template(), ["node0"], {"bank-z": [{"account": "x",
                                                                    "roles": ["client"]}]})
