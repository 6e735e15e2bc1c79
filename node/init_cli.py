"""`zonechain init`: write a complete local network (genesis, per-node config, keys, TLS).

    zonechain init --validators N --out DIR [--chain-id ID] [--base-port P]
                   [--full-nodes M] [--accounts K] [--host HOST ...] [--client-tls]
                   [--force]
    zonechain add-full-node --network DIR [--ca-key PATH] [--base-port P]
                   [--host HOST ...] [--client-tls]

Guarantees:
- Every node directory gets the same genesis.json (same genesis hash), a
  config.toml that ``load_node_config`` accepts, its TLS certificate signed by
  the network CA whose fingerprint genesis pins, and (validators only) its
  ed25519 key. Private keys are created with mode 0600.
- The network is written into a temporary sibling directory and renamed into
  place at the end, so a failure leaves no half-written DIR behind.
- An existing DIR is never overwritten without --force, and --force replaces
  only an empty directory or one that a previous init wrote (it holds
  genesis.json): it will not delete an unrelated directory.
- Bad arguments raise UserError (one line, exit code 2).
- ``--permissions pilot`` writes the pilot template (node/genesis_zones.json:
  ten organisations, fifteen zones) into genesis, every genesis validator
  owned by the template's ``default_validator_organisation``, and one account
  key per name the template uses (DIR/accounts/<name>.key, same format as
  account0.key); ``FILE`` does the same with a section of that shape;
  ``none`` (the default) leaves the chain open. The section is checked with
  the node's own ``writes_for_genesis`` before anything is written, so a
  network that init writes always starts.
- With --client-tls every node also gets tls/client.crt + tls/client.key (a
  server certificate from the network CA, same names as node.crt) and its
  config serves the client port over TLS; SDK clients trust ca/ca.crt.

``add-full-node`` writes DIR/nodeK for the next free K into a network that
``init`` wrote (it needs genesis.json, ca/ca.crt and the CA key): a full node
whose peers are the genesis validators, staged and renamed into place like
``init``. The network keeps running; nothing else in DIR changes.

Ports: node K (validators first, then full nodes) listens on
P + 10K (p2p), P + 10K + 1 (client gRPC) and P + 10K + 2 (metrics), all on
127.0.0.1. The layout of DIR is described in docs/OPERATIONS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from zonechain.node import tls
from zonechain.node.cli import EXIT_OK, UserError
from zonechain.node.config import (
    PORT_MAX,
    RETAIN_HEIGHTS_INIT,
    ClientTls,
    ConsensusTimeouts,
    Genesis,
    GenesisAccount,
    GenesisValidator,
    HostPort,
    JsonValue,
    MempoolLimits,
    NodeConfig,
    NodePaths,
    P2pSettings,
    PeerAddress,
    StorageSettings,
    encode_key_file,
    load_genesis,
    load_node_config,
    save_genesis,
    save_node_config,
)
from zonechain.node.crypto import PrivateKey
from zonechain.node.permissions.errors import GenesisPermissionsError, PolicyError
from zonechain.node.permissions.genesis import (
    NETWORK_GOVERNANCE_DEFAULT,
    load_template,
    template_account_names,
    writes_for_genesis,
)
from zonechain.node.types.limits import CHAIN_ID_PATTERN, VALIDATORS_MAX

BASE_PORT_DEFAULT: Final = 26_600
PORT_STRIDE: Final = 10
"""Ports reserved per node: p2p, client, metrics, and room for later services."""
P2P_PORT_OFFSET: Final = 0
CLIENT_PORT_OFFSET: Final = 1
METRICS_PORT_OFFSET: Final = 2
FULL_NODES_MAX: Final = 64
ACCOUNTS_INIT_MAX: Final = 1_000
VOTING_POWER_DEFAULT: Final = 10
LISTEN_HOST: Final = "127.0.0.1"
CHAIN_ID_DEFAULT: Final = "zonechain-devnet"
GENESIS_FILE: Final = "genesis.json"
DNS_NAME_BYTES_MAX: Final = 253
DNS_LABEL_PATTERN: Final = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
PERMISSIONS_PILOT: Final = "pilot"
PERMISSIONS_NONE: Final = "none"
PERMISSIONS_FILE_BYTES_MAX: Final = 4 * 1024 * 1024
"""A permissions section is a few KiB; anything near this is not one."""


@dataclass(frozen=True, slots=True)
class InitOptions:
    out: Path
    validators: int
    full_nodes: int = 0
    accounts: int = 1
    chain_id: str = CHAIN_ID_DEFAULT
    base_port: int = BASE_PORT_DEFAULT
    hosts: tuple[str, ...] = ()
    force: bool = False
    permissions: str = PERMISSIONS_NONE
    """``pilot``, ``none``, or the path of a JSON permissions section."""
    client_tls: bool = False


@dataclass(frozen=True, slots=True)
class _PlannedNode:
    node_id: str
    index: int
    validator_key: PrivateKey | None

    def port(self, base_port: int, offset: int) -> int:
        return base_port + PORT_STRIDE * self.index + offset


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "init", help="write a local network: genesis, node configs, keys, TLS certificates",
        description="Write DIR/genesis.json, DIR/ca/ and DIR/nodeK/ for every node.",
    )
    parser.add_argument("--validators", type=int, required=True, metavar="N",
                        help=f"validators, 1..{VALIDATORS_MAX}")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="directory to write (must not exist, unless --force)")
    parser.add_argument("--chain-id", default=CHAIN_ID_DEFAULT, metavar="ID",
                        help=f"chain id (default {CHAIN_ID_DEFAULT})")
    parser.add_argument("--base-port", type=int, default=BASE_PORT_DEFAULT, metavar="P",
                        help=f"node K uses ports P+{PORT_STRIDE}K .. P+{PORT_STRIDE}K+2 "
                             f"(default {BASE_PORT_DEFAULT})")
    parser.add_argument("--full-nodes", type=int, default=0, metavar="M",
                        help="non-voting nodes (default 0)")
    parser.add_argument("--accounts", type=int, default=1, metavar="K",
                        help="initial accounts (keys written to DIR/accounts/)")
    parser.add_argument("--host", action="append", default=[], metavar="HOST",
                        help="extra DNS name or IP for every node certificate (repeatable)")
    parser.add_argument("--force", action="store_true",
                        help="replace DIR if a previous init wrote it")
    parser.add_argument("--permissions", default=PERMISSIONS_NONE, metavar="pilot|none|FILE",
                        help="organisations and zones of genesis: the pilot template, none "
                             "(an open chain, the default) or a JSON section file")
    parser.add_argument("--client-tls", action="store_true",
                        help="serve each node's client gRPC port over TLS "
                             "(certificate from the network CA)")
    parser.set_defaults(handler=run_init)
    _register_add_full_node(subparsers)


def run_init(arguments: argparse.Namespace) -> int:
    options = InitOptions(
        out=arguments.out, validators=arguments.validators, full_nodes=arguments.full_nodes,
        accounts=arguments.accounts, chain_id=arguments.chain_id,
        base_port=arguments.base_port, hosts=tuple(arguments.host), force=arguments.force,
        client_tls=arguments.client_tls, permissions=arguments.permissions,
    )
    genesis = init_network(options)
    print(f"wrote {options.out}: chain {genesis.chain_id}, "
          f"{options.validators} validator(s), {options.full_nodes} full node(s)")
    print(f"genesis hash {genesis.hash.hex()}")
    if genesis.organisations:
        print(f"permissions: {len(genesis.organisations)} organisation(s), "
              f"{len(genesis.zones)} zone(s); account keys in {options.out / 'accounts'}")
    for index in range(options.validators + options.full_nodes):
        base = options.base_port + PORT_STRIDE * index
        print(f"  node{index}: p2p {LISTEN_HOST}:{base + P2P_PORT_OFFSET}, "
              f"client {LISTEN_HOST}:{base + CLIENT_PORT_OFFSET}, "
              f"metrics {LISTEN_HOST}:{base + METRICS_PORT_OFFSET}")
    return EXIT_OK


def check_options(options: InitOptions) -> None:
    """UserError for any argument out of range, before anything is written."""
    if not 1 <= options.validators <= VALIDATORS_MAX:
        raise UserError(f"--validators must be 1..{VALIDATORS_MAX}, got {options.validators}")
    if not 0 <= options.full_nodes <= FULL_NODES_MAX:
        raise UserError(f"--full-nodes must be 0..{FULL_NODES_MAX}, got {options.full_nodes}")
    if not 0 <= options.accounts <= ACCOUNTS_INIT_MAX:
        raise UserError(f"--accounts must be 0..{ACCOUNTS_INIT_MAX}, got {options.accounts}")
    if CHAIN_ID_PATTERN.fullmatch(options.chain_id) is None:
        raise UserError(f"--chain-id {options.chain_id!r} must match {CHAIN_ID_PATTERN.pattern}")
    last_port = (options.base_port + PORT_STRIDE * (options.validators + options.full_nodes - 1)
                 + METRICS_PORT_OFFSET)
    if options.base_port < 1 or last_port > PORT_MAX:
        raise UserError(f"--base-port {options.base_port} leaves ports outside 1..{PORT_MAX} "
                        f"for {options.validators + options.full_nodes} nodes")
    for host in options.hosts:
        if not _is_host(host):
            raise UserError(f"--host {host!r} is not a DNS name or IP address")
    load_permissions(options.permissions)
    _check_out(options)


def _is_host(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return len(text) <= DNS_NAME_BYTES_MAX and all(
            DNS_LABEL_PATTERN.fullmatch(label) for label in text.split("."))
    return True


def _check_out(options: InitOptions) -> None:
    out = options.out
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not options.force:
            raise UserError(f"--out {out} already exists; pass --force to replace it")
        if not (out / GENESIS_FILE).is_file():
            raise UserError(f"--force refuses to replace {out}: it holds no {GENESIS_FILE}, "
                            "so `zonechain init` did not write it")


def init_network(options: InitOptions) -> Genesis:
    """Write the network described by ``options``; returns its genesis."""
    check_options(options)
    out = options.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.init-", dir=out.parent))
    try:
        genesis = _write_network(options, staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return genesis


def _plan_nodes(options: InitOptions) -> list[_PlannedNode]:
    nodes = [_PlannedNode(f"node{index}", index, PrivateKey.generate())
             for index in range(options.validators)]
    nodes.extend(_PlannedNode(f"node{index}", index, None)
                 for index in range(options.validators, options.validators + options.full_nodes))
    return nodes


def _write_network(options: InitOptions, root: Path) -> Genesis:
    authority = tls.create_network_ca(f"zonechain network CA ({options.chain_id})")
    tls.save_authority(authority, root / "ca")
    nodes = _plan_nodes(options)
    genesis = Genesis(
        chain_id=options.chain_id,
        genesis_time_ms=time.time_ns() // 1_000_000,
        ca_fingerprint=authority.fingerprint,
        validators=tuple(
            GenesisValidator(node.node_id, node.validator_key.public_key, VOTING_POWER_DEFAULT,
                             HostPort(LISTEN_HOST, node.port(options.base_port, P2P_PORT_OFFSET)))
            for node in nodes if node.validator_key is not None
        ),
        accounts=_write_accounts(options.accounts, root / "accounts"),
    )
    section = load_permissions(options.permissions)
    if section is not None:
        names = template_account_names(section)
        taken = sorted(set(names) & {account.name for account in genesis.accounts})
        if taken:
            raise UserError(f"--permissions names account(s) {', '.join(taken)} that "
                            "--accounts also creates")
        accounts = _write_accounts(0, root / "accounts", names)
        zones, organisations = permissions_section(
            section, [validator.name for validator in genesis.validators])
        genesis = with_permissions(genesis, zones, organisations,
                                   (*genesis.accounts, *accounts))
    save_genesis(genesis, root / GENESIS_FILE)
    for node in nodes:
        _write_node(options, root, node, nodes, authority)
    return genesis


def _write_accounts(count: int, directory: Path,
                    names: Sequence[str] = ()) -> tuple[GenesisAccount, ...]:
    """``account0..`` (``count`` of them) and then one account per name in ``names``."""
    accounts: list[GenesisAccount] = []
    for name in [*(f"account{index}" for index in range(count)), *names]:
        key = PrivateKey.generate()
        tls.write_private_key(directory / f"{name}.key",
                              encode_key_file(key.seed, key.public_key))
        accounts.append(GenesisAccount(name, key.public_key))
    return tuple(accounts)


# ---- permissions (organisations and zones) in genesis ---------------------------------


def load_permissions(choice: str) -> dict[str, object] | None:
    """The permissions section ``--permissions`` names (None for ``none``); UserError if bad."""
    if choice == PERMISSIONS_NONE:
        return None
    if choice == PERMISSIONS_PILOT:
        return load_template()
    path = Path(choice)
    try:
        if path.stat().st_size > PERMISSIONS_FILE_BYTES_MAX:
            raise UserError(f"--permissions {path}: larger than {PERMISSIONS_FILE_BYTES_MAX} "
                            "bytes")
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UserError(f"--permissions {choice!r}: not pilot, none or a readable file "
                        f"({error.strerror})") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise UserError(f"--permissions {path}: not a JSON document: {error}") from None
    if not isinstance(document, dict):
        raise UserError(f"--permissions {path}: must hold a JSON object")
    return document


def permissions_section(
    section: Mapping[str, object], validators: Sequence[str],
    extra_members: Mapping[str, Sequence[JsonValue]] | None = None,
) -> tuple[tuple[JsonValue, ...], tuple[JsonValue, ...]]:
    """(zones, organisations) for genesis.json from a permissions section.

    Genesis validators named by no organisation are given to the section's
    ``network.default_validator_organisation`` (genesis.json has no network
    section: ownership must be explicit there). ``extra_members`` adds
    ``{"account", "roles"}`` entries to the organisations it names (the demo's
    business parties). A network governance policy other than the default
    cannot be expressed in genesis.json yet: UserError.
    """
    network = section.get("network") or {}
    if not isinstance(network, Mapping):
        raise UserError("permissions: network must be an object")
    governance = network.get("governance", NETWORK_GOVERNANCE_DEFAULT)
    if governance != NETWORK_GOVERNANCE_DEFAULT:
        raise UserError(f"permissions: network.governance {governance!r}: genesis.json "
                        f"carries only the default network policy {NETWORK_GOVERNANCE_DEFAULT!r}")
    listed, zones = section.get("organisations", []), section.get("zones", [])
    if not isinstance(listed, list) or not isinstance(zones, list):
        raise UserError("permissions: organisations and zones must be lists")
    named = {str(name) for entry in listed if isinstance(entry, Mapping)
             for name in entry.get("validators", []) or []}
    owner = network.get("default_validator_organisation")
    unowned = [name for name in validators if name not in named]
    extra = dict(extra_members or {})
    organisations: list[JsonValue] = []
    for entry in listed:
        if not isinstance(entry, Mapping):
            raise UserError("permissions: every organisation must be an object")
        organisation: dict[str, JsonValue] = {str(k): v for k, v in entry.items()}
        members = organisation.get("members", [])
        added = list(extra.pop(str(organisation.get("id")), []))
        if added:
            organisation["members"] = [*(members if isinstance(members, list) else []), *added]
        if unowned and organisation.get("id") == owner:
            current = organisation.get("validators", [])
            organisation["validators"] = [*(current if isinstance(current, list) else []),
                                          *unowned]
        organisations.append(organisation)
    if extra:
        raise UserError(f"permissions: extra members for unknown organisation(s) "
                        f"{', '.join(sorted(extra))}")
    return tuple(zones), tuple(organisations)


def with_permissions(genesis: Genesis, zones: Sequence[JsonValue],
                     organisations: Sequence[JsonValue],
                     accounts: Sequence[GenesisAccount]) -> Genesis:
    """``genesis`` with these zones, organisations and accounts, checked as the node will.

    Raises UserError naming the bad key if the node could not install the
    section (``writes_for_genesis`` is what the node runs at height 0).
    """
    updated = dataclasses.replace(genesis, zones=tuple(zones),
                                  organisations=tuple(organisations), accounts=tuple(accounts))
    try:
        writes_for_genesis(updated)
    except (GenesisPermissionsError, PolicyError, ValueError) as error:
        raise UserError(f"permissions: {error}") from None
    return updated


def rewrite_genesis(directory: Path, genesis: Genesis) -> None:
    """Replace DIR/genesis.json and every DIR/nodeK/genesis.json (before any node started)."""
    save_genesis(genesis, directory / GENESIS_FILE)
    for home in sorted(directory.iterdir()):
        if (home / GENESIS_FILE).is_file() and home != directory:
            save_genesis(genesis, home / GENESIS_FILE)


def _write_node(options: InitOptions, root: Path, node: _PlannedNode,
                nodes: list[_PlannedNode], authority: tls.CertificateAuthority) -> None:
    home = root / node.node_id
    (home / "tls").mkdir(parents=True)
    shutil.copyfile(root / GENESIS_FILE, home / GENESIS_FILE)
    shutil.copyfile(root / "ca" / "ca.crt", home / "tls" / "ca.crt")
    public_key = tls.NO_VALIDATOR_KEY
    validator_key_path: Path | None = None
    if node.validator_key is not None:
        public_key = node.validator_key.public_key
        validator_key_path = home / "keys" / "validator.key"
        tls.write_private_key(validator_key_path,
                              encode_key_file(node.validator_key.seed, public_key))
    certificate = tls.issue_node_certificate(authority, node.node_id, public_key,
                                             list(options.hosts))
    (home / "tls" / "node.crt").write_bytes(certificate.certificate_pem)
    tls.write_private_key(home / "tls" / "node.key", certificate.private_key_pem)
    client_tls = _write_client_tls(options, home, node, authority, public_key)
    p2p = HostPort(LISTEN_HOST, node.port(options.base_port, P2P_PORT_OFFSET))
    config = NodeConfig(
        node_id=node.node_id,
        home=home,
        p2p=P2pSettings(
            listen=p2p, external_address=p2p,
            peers=tuple(PeerAddress(other.node_id, HostPort(
                LISTEN_HOST, other.port(options.base_port, P2P_PORT_OFFSET)))
                for other in nodes if other is not node),
        ),
        client_listen=HostPort(LISTEN_HOST, node.port(options.base_port, CLIENT_PORT_OFFSET)),
        metrics_listen=HostPort(LISTEN_HOST, node.port(options.base_port, METRICS_PORT_OFFSET)),
        consensus=ConsensusTimeouts(),
        mempool=MempoolLimits(),
        paths=NodePaths(
            genesis=home / GENESIS_FILE, data=home / "data", validator_key=validator_key_path,
            tls_certificate=home / "tls" / "node.crt", tls_key=home / "tls" / "node.key",
            tls_ca=home / "tls" / "ca.crt",
        ),
        client_tls=client_tls,
        storage=StorageSettings(retain_heights=RETAIN_HEIGHTS_INIT),
    )
    save_node_config(config, home / "config.toml")


def _write_client_tls(options: InitOptions, home: Path, node: _PlannedNode,
                      authority: tls.CertificateAuthority,
                      public_key: bytes) -> ClientTls | None:
    """tls/client.crt + tls/client.key for the client port (--client-tls), else None.

    A key pair of its own, so that the client port's key can be replaced
    (or moved to a TLS terminator) without touching the peer identity."""
    if not options.client_tls:
        return None
    certificate = tls.issue_node_certificate(authority, node.node_id, public_key,
                                             list(options.hosts))
    paths = ClientTls(certificate=home / "tls" / "client.crt", key=home / "tls" / "client.key")
    paths.certificate.write_bytes(certificate.certificate_pem)
    tls.write_private_key(paths.key, certificate.private_key_pem)
    return paths


# ---- add-full-node ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddFullNodeOptions:
    network: Path
    ca_key: Path | None = None
    """None: ``network``/ca/ca.key."""
    base_port: int | None = None
    """None: node0's p2p port in genesis (the ``--base-port`` init used)."""
    hosts: tuple[str, ...] = ()
    client_tls: bool = False


def _register_add_full_node(
        subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "add-full-node", help="write one more full node into an existing network directory",
        description="Write DIR/nodeK (next free K): a non-voting node of the network in DIR, "
                    "with a certificate from its CA.")
    parser.add_argument("--network", type=Path, required=True, metavar="DIR",
                        help="the directory `zonechain init` wrote")
    parser.add_argument("--ca-key", type=Path, default=None, metavar="PATH",
                        help="the network CA's private key (default DIR/ca/ca.key)")
    parser.add_argument("--base-port", type=int, default=None, metavar="P",
                        help=f"node K uses ports P+{PORT_STRIDE}K .. P+{PORT_STRIDE}K+2 "
                             "(default: node0's p2p port in genesis)")
    parser.add_argument("--host", action="append", default=[], metavar="HOST",
                        help="extra DNS name or IP for the certificate (repeatable)")
    parser.add_argument("--client-tls", action="store_true",
                        help="serve the node's client gRPC port over TLS")
    parser.set_defaults(handler=run_add_full_node)


def run_add_full_node(arguments: argparse.Namespace) -> int:
    home = add_full_node(AddFullNodeOptions(
        network=arguments.network, ca_key=arguments.ca_key, base_port=arguments.base_port,
        hosts=tuple(arguments.host), client_tls=arguments.client_tls))
    config = load_node_config(home / "config.toml")
    print(f"wrote {home}: full node {config.node_id}, p2p {config.p2p.listen}, "
          f"client {config.client_listen}, metrics {config.metrics_listen}")
    return EXIT_OK


def _load_authority(certificate_path: Path, key_path: Path,
                    fingerprint: bytes) -> tls.CertificateAuthority:
    """The network CA, if its certificate is the one genesis pins and the key is its key."""
    try:
        certificate = tls.check_ca_fingerprint(certificate_path, fingerprint)
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as error:
        raise UserError(f"{key_path}: cannot read the CA key: {error.strerror}") from None
    except (ValueError, TypeError) as error:
        raise UserError(f"cannot load the network CA: {error}") from None
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or \
            key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        raise UserError(f"{key_path} is not the key of the network CA {certificate_path}")
    return tls.CertificateAuthority(key, certificate)


def _check_add_options(options: AddFullNodeOptions, node: _PlannedNode, base_port: int) -> None:
    if base_port < 1 or node.port(base_port, METRICS_PORT_OFFSET) > PORT_MAX:
        raise UserError(f"--base-port {base_port} leaves {node.node_id}'s ports outside "
                        f"1..{PORT_MAX}")
    for host in options.hosts:
        if not _is_host(host):
            raise UserError(f"--host {host!r} is not a DNS name or IP address")


def add_full_node(options: AddFullNodeOptions) -> Path:
    """Write ``options.network``/nodeK for the next free K; returns that directory."""
    network = options.network.resolve()
    try:
        genesis = load_genesis(network / GENESIS_FILE)
    except ValueError as error:
        raise UserError(f"--network {options.network}: {error}") from None
    authority = _load_authority(network / "ca" / "ca.crt",
                                options.ca_key or network / "ca" / "ca.key",
                                genesis.ca_fingerprint)
    index = len(genesis.validators)
    while (network / f"node{index}").exists():
        index += 1
    node = _PlannedNode(f"node{index}", index, None)
    base_port = options.base_port if options.base_port is not None else \
        genesis.validators[0].p2p_address.port
    _check_add_options(options, node, base_port)
    init_options = InitOptions(out=network, validators=len(genesis.validators),
                               base_port=base_port, hosts=options.hosts,
                               client_tls=options.client_tls)
    staging = Path(tempfile.mkdtemp(prefix=f".{node.node_id}.add-", dir=network))
    try:
        (staging / "ca").mkdir()
        shutil.copyfile(network / GENESIS_FILE, staging / GENESIS_FILE)
        shutil.copyfile(network / "ca" / "ca.crt", staging / "ca" / "ca.crt")
        _write_node(init_options, staging, node, [node], authority)
        path = staging / node.node_id / "config.toml"
        config = load_node_config(path)
        peers = tuple(PeerAddress(validator.name, validator.p2p_address)
                      for validator in genesis.validators)
        save_node_config(dataclasses.replace(
            config, p2p=dataclasses.replace(config.p2p, peers=peers)), path)
        (staging / node.node_id).rename(network / node.node_id)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return network / node.node_id


# ---- promoting a full node: a certificate for its validator key --------------------------


def issue_validator_certificate(network: Path, home: Path, validator_public_key: bytes,
                                ca_key: Path | None = None) -> None:
    """Replace ``home``/tls/node.crt + node.key with a certificate naming
    ``validator_public_key`` (same node id and hosts), signed by the network CA.

    Peers accept proposals and votes by the key a certificate names
    (docs/OPERATIONS.md, "Certificates and peer identity"), so a full node that
    is given a validator key needs this before its votes count; the node
    refuses to start while its key and certificate disagree."""
    try:
        genesis = load_genesis(network / GENESIS_FILE)
        config = load_node_config(home / "config.toml")
        old = tls.load_certificate(config.paths.tls_certificate)
        identity = tls.peer_identity(old)
    except (OSError, ValueError) as error:
        raise UserError(str(error)) from None
    authority = _load_authority(network / "ca" / "ca.crt", ca_key or network / "ca" / "ca.key",
                                genesis.ca_fingerprint)
    hosts = _extra_hosts(old, identity.node_id)
    certificate = tls.issue_node_certificate(authority, identity.node_id, validator_public_key,
                                             hosts)
    tls.write_private_key(config.paths.tls_key, certificate.private_key_pem)
    config.paths.tls_certificate.write_bytes(certificate.certificate_pem)


def _extra_hosts(certificate: x509.Certificate, node_id: str) -> list[str]:
    """The hosts a node certificate names beyond the ones every certificate names."""
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    standard = {tls.node_host_name(node_id), "127.0.0.1", "localhost"}
    hosts = [str(address) for address in names.get_values_for_type(x509.IPAddress)]
    hosts += names.get_values_for_type(x509.DNSName)
    return [host for host in hosts if host not in standard]
