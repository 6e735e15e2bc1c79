"""`zonechain init`: a consistent network on disk, and clear refusals of bad arguments."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from zonechain.node import tls
from zonechain.node.cli import UserError, main
from zonechain.node.config import (
    load_genesis,
    load_key_seed,
    load_node_config,
    load_validator_key,
)
from zonechain.node.crypto import PrivateKey
from zonechain.node.init_cli import InitOptions, init_network


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("init") / "net"
    code = main(["init", "--validators", "4", "--full-nodes", "1", "--out", str(out),
                 "--chain-id", "pilot-1", "--base-port", "30000", "--accounts", "2",
                 "--host", "validator.example", "--host", "10.1.2.3"])
    assert code == 0
    return out


def test_every_node_config_parses_and_genesis_is_identical(network: Path) -> None:
    genesis = load_genesis(network / "genesis.json")
    assert genesis.chain_id == "pilot-1"
    assert [v.name for v in genesis.validators] == ["node0", "node1", "node2", "node3"]
    assert len(genesis.accounts) == 2
    assert genesis.zones == () and genesis.organisations == ()
    ports: set[int] = set()
    for index in range(5):
        home = network / f"node{index}"
        config = load_node_config(home / "config.toml")
        assert config.node_id == f"node{index}"
        assert config.home == home.resolve()
        assert load_genesis(config.paths.genesis).hash == genesis.hash
        assert (home / "genesis.json").read_bytes() == (network / "genesis.json").read_bytes()
        assert {peer.node_id for peer in config.p2p.peers} == \
            {f"node{other}" for other in range(5) if other != index}
        ports |= {config.p2p.listen.port, config.client_listen.port, config.metrics_listen.port}
        assert config.p2p.listen.port == 30000 + 10 * index
        assert config.is_validator == (index < 4)
    assert len(ports) == 15


def test_keys_are_private_and_match_genesis(network: Path) -> None:
    genesis = load_genesis(network / "genesis.json")
    for index, validator in enumerate(genesis.validators):
        key_path = network / f"node{index}" / "keys" / "validator.key"
        assert _mode(key_path) == 0o600
        assert load_validator_key(key_path).public_key == validator.public_key
    assert not (network / "node4" / "keys").exists()
    for index, account in enumerate(genesis.accounts):
        path = network / "accounts" / f"account{index}.key"
        assert _mode(path) == 0o600
        seed, public_key = load_key_seed(path)
        assert PrivateKey.from_seed(seed).public_key == public_key == account.public_key
    for private in [network / "ca" / "ca.key",
                    *(network / f"node{index}" / "tls" / "node.key" for index in range(5))]:
        assert _mode(private) == 0o600


def test_certificates_chain_to_the_pinned_ca_and_carry_identities(network: Path) -> None:
    genesis = load_genesis(network / "genesis.json")
    ca = tls.check_ca_fingerprint(network / "ca" / "ca.crt", genesis.ca_fingerprint)
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    for index in range(5):
        home = network / f"node{index}"
        assert tls.check_ca_fingerprint(home / "tls" / "ca.crt", genesis.ca_fingerprint)
        certificate = tls.load_certificate(home / "tls" / "node.crt")
        certificate.verify_directly_issued_by(ca)
        identity = tls.peer_identity(certificate)
        assert identity.node_id == f"node{index}"
        if index < 4:
            assert identity.validator_public_key == genesis.validators[index].public_key
        else:
            assert not identity.is_validator
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert set(names.value.get_values_for_type(x509.DNSName)) == {
            f"node{index}.node.zonechain", "localhost", "validator.example"}
        assert {str(ip) for ip in names.value.get_values_for_type(x509.IPAddress)} == \
            {"127.0.0.1", "10.1.2.3"}


def test_a_ca_with_another_fingerprint_is_refused(network: Path, tmp_path: Path) -> None:
    other = tls.create_network_ca("other")
    tls.save_authority(other, tmp_path)
    genesis = load_genesis(network / "genesis.json")
    with pytest.raises(tls.TlsError, match="does not match genesis"):
        tls.check_ca_fingerprint(tmp_path / "ca.crt", genesis.ca_fingerprint)


def test_existing_directory_is_not_overwritten_without_force(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "net"
    assert main(["init", "--validators", "1", "--out", str(out)]) == 0
    first = load_genesis(out / "genesis.json").hash
    capsys.readouterr()
    assert main(["init", "--validators", "1", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert load_genesis(out / "genesis.json").hash == first
    assert main(["init", "--validators", "2", "--out", str(out), "--force"]) == 0
    assert len(load_genesis(out / "genesis.json").validators) == 2


def test_force_refuses_a_directory_init_did_not_write(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    assert main(["init", "--validators", "1", "--out", str(precious), "--force"]) == 2
    assert "did not write it" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(("arguments", "message"), [
    (["--validators", "0"], "--validators must be"),
    (["--validators", "257"], "--validators must be"),
    (["--validators", "1", "--full-nodes", "-1"], "--full-nodes must be"),
    (["--validators", "1", "--chain-id", "bad id!"], "--chain-id"),
    (["--validators", "4", "--base-port", "65530"], "--base-port"),
    (["--validators", "1", "--base-port", "0"], "--base-port"),
    (["--validators", "1", "--host", "bad host!"], "--host"),
    (["--validators", "1", "--accounts", "-2"], "--accounts"),
])
def test_bad_arguments_are_one_line_errors_and_write_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        arguments: list[str], message: str) -> None:
    out = tmp_path / "net"
    assert main(["init", *arguments, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_init_prints_the_genesis_hash_and_ports(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--validators", "2", "--out", str(tmp_path / "n")]) == 0
    output = capsys.readouterr().out
    genesis = load_genesis(tmp_path / "n" / "genesis.json")
    assert genesis.hash.hex() in output
    assert "node1: p2p 127.0.0.1:26610" in output


def test_out_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        init_network(InitOptions(out=target, validators=1))
