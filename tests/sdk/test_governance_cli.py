"""`zonechain governance ...` without a network: usage errors, exit codes, init account keys.

The commands against a live network run in tests/node/test_governance_devnet.py
(the worked example of docs/GOVERNANCE.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from zonechain.node.cli import EXIT_USAGE, UserError, main
from zonechain.node.config import encode_key_file
from zonechain.node.crypto import PrivateKey
from zonechain.sdk import KeyFileError
from zonechain.sdk.cli import EXIT_NODE, load_signer
from zonechain.sdk.governance_cli import ACTION_BUILDERS, build_action

UNREACHABLE = ["--node", "127.0.0.1:1", "--timeout", "0.5"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    output = capsys.readouterr()
    return code, output.out, output.err


def test_every_node_action_has_a_builder() -> None:
    from zonechain.node.permissions.actions import ACTION_TYPES

    assert set(ACTION_BUILDERS) == {action.NAME for action in ACTION_TYPES}


def test_build_action_accepts_dashes_and_names_missing_or_unknown_parameters() -> None:
    action = build_action("freeze-contract", json.dumps({"contract": "0x" + "11" * 20}))
    assert action.NAME == "freeze_contract"
    with pytest.raises(Exception, match="missing a required argument: 'power'"):
        build_action("add_validator", '{"public_key": "00", "organisation": "x"}')
    with pytest.raises(Exception, match="unexpected keyword argument 'colour'"):
        build_action("remove_member", '{"address": "zc", "colour": 1}')
    with pytest.raises(Exception, match="unknown action"):
        build_action("make_me_admin", "{}")
    with pytest.raises(Exception, match="JSON object"):
        build_action("remove_member", "[1]")
    with pytest.raises(UserError, match="grant_role"):
        build_action("grant_role", '{"address": "0x' + "11" * 20 + '", "role": []}')


def test_usage_errors_exit_2_with_a_json_error_object(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "governance")[0] == EXIT_USAGE
    code, out, err = run(capsys, "governance", "propose", "nope", "--key", "k", "--json",
                         *UNREACHABLE)
    assert code == EXIT_USAGE and "unknown action 'nope'" in err
    assert json.loads(out)["error"]["kind"] == "UsageError"
    code, out, err = run(capsys, "governance", "propose", "add_validator",
                         '{"public_key": "zz", "power": 1, "organisation": "x"}',
                         "--key", "k", "--json", *UNREACHABLE)
    assert code == EXIT_USAGE and json.loads(out)["error"]["kind"] == "InvalidTransaction"
    code, _, err = run(capsys, "governance", "approve", "1", "--key",
                       str(tmp_path / "missing.key"), *UNREACHABLE)
    assert code == EXIT_USAGE and "no such key file" in err
    code, _, err = run(capsys, "governance", "propose", "remove_member",
                       '{"address": "0x' + "11" * 20 + '"}', "--lifetime", "0", "--key", "k",
                       *UNREACHABLE)
    assert code == EXIT_USAGE and "--lifetime" in err


def test_reads_of_an_unreachable_node_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "governance", "list", "--json", *UNREACHABLE)
    assert code == EXIT_NODE and json.loads(out)["error"]["exit_code"] == EXIT_NODE
    assert run(capsys, "governance", "show", "1", *UNREACHABLE)[0] == EXIT_NODE


def test_an_init_account_file_is_a_signer_and_a_forged_one_is_refused(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    path = tmp_path / "central-bank-admin.key"
    path.write_bytes(encode_key_file(key.seed, key.public_key))
    path.chmod(0o600)
    signer = load_signer(argparse.Namespace(key=str(path), passphrase_env=None))
    assert signer.public_key == key.public_key
    forged = tmp_path / "forged.key"
    forged.write_bytes(encode_key_file(key.seed, PrivateKey.generate().public_key))
    forged.chmod(0o600)
    with pytest.raises(KeyFileError):
        load_signer(argparse.Namespace(key=str(forged), passphrase_env=None))
    path.chmod(0o644)  # readable by others: refused like the node refuses it
    with pytest.raises(KeyFileError, match="too open"):
        load_signer(argparse.Namespace(key=str(path), passphrase_env=None))
