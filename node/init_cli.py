"""`zonechain init`: write a complete local network (genesis, per-node config, keys, TLS).

    zonechain init --validators N --out DIR [--chain-id ID] [--base-port P]
                   [--full-nodes M] [--accounts K] [--host HOST ...] [--force]

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

Ports: node K (validators first, then full nodes) listens on
P + 10K (p2p), P + 10K + 1 (client gRPC) and P + 10K + 2 (metrics), all on
127.0.0.1. The layout of DIR is described in docs/OPERATIONS.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from zonechain.node import tls
from zonechain.node.cli import EXIT_OK, UserError
from zonechain.node.config import (
    PORT_MAX,
    ConsensusTimeouts,
    Genesis,
    GenesisAccount,
    GenesisValidator,
    HostPort,
    MempoolLimits,
    NodeConfig,
    NodePaths,
    P2pSettings,
    PeerAddress,
    encode_key_file,
    save_genesis,
    save_node_config,
)
from zonechain.node.crypto import PrivateKey
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
    parser.set_defaults(handler=run_init)


def run_init(arguments: argparse.Namespace) -> int:
    options = InitOptions(
        out=arguments.out, validators=arguments.validators, full_nodes=arguments.full_nodes,
        accounts=arguments.accounts, chain_id=arguments.chain_id,
        base_port=arguments.base_port, hosts=tuple(arguments.host), force=arguments.force,
    )
    genesis = init_network(options)
    print(f"wrote {options.out}: chain {genesis.chain_id}, "
          f"{options.validators} validator(s), {options.full_nodes} full node(s)")
    print(f"genesis hash {genesis.hash.hex()}")
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
    save_genesis(genesis, root / GENESIS_FILE)
    for node in nodes:
        _write_node(options, root, node, nodes, authority)
    return genesis


def _write_accounts(count: int, directory: Path) -> tuple[GenesisAccount, ...]:
    accounts: list[GenesisAccount] = []
    for index in range(count):
        key = PrivateKey.generate()
        tls.write_private_key(directory / f"account{index}.key",
                              encode_key_file(key.seed, key.public_key))
        accounts.append(GenesisAccount(f"account{index}", key.public_key))
    return tuple(accounts)


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
    )
    save_node_config(config, home / "config.toml")
