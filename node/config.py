"""The genesis file every node of a network shares, and each node's own config.toml.

Genesis (``genesis.json``, written once by ``zonechain init``):

    format_version      1
    chain_id            the chain id inside every signed transaction and vote
    genesis_time_ms     fixed at init; the time of the chain's first moment
    ca_fingerprint      hex SHA-256 of the network CA certificate's DER bytes:
                        the CA that every node's TLS certificate must chain to
    validators          [{name, public_key (hex ed25519), address (zc...),
                          power, p2p_address (host:port)}]
    accounts            [{name, public_key, address}]: initial accounts
    zones, organisations
                        lists of JSON objects, filled in by the permissions
                        work; kept verbatim (open to extension) and hashed

``load_genesis`` refuses unknown top-level keys, duplicate object keys,
floats, inconsistent addresses, duplicate validators and out-of-range powers,
raising ``GenesisError`` that names the file and the key.

Determinism: the genesis hash is ``sha256(b"zonechain/genesis/v1" +
canonical bytes)`` where the canonical bytes come from vm/encoding.py's
Writer (never JSON text), so reformatting genesis.json does not change the
hash, and every node computes the same one. Lists keep the order written
(validator order is the genesis validator order); JSON objects inside zones
and organisations are encoded with their keys sorted.

Node config (``nodeK/config.toml``, read with tomllib): every key is checked
for presence, type and range by ``load_node_config``, which raises
``ConfigError`` naming the file and the dotted key. Relative paths resolve
against ``home``, and a relative ``home`` resolves against the directory
holding config.toml, so a network directory can be moved as a whole.
The optional ``client.tls_certificate`` / ``client.tls_key`` pair (both or
neither) serves the client gRPC port over TLS (``ClientTls``); without it the
client port is plaintext, the devnet default. The optional
``[storage] retain_heights`` (``StorageSettings``; absent: 0, an archive node)
is how many heights below the latest stay provable and readable (state-tree
proofs, values and view calls; older ones are pruned).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from zonechain.node.crypto import PrivateKey
from zonechain.node.types.address import account_address, format_address
from zonechain.node.types.errors import MalformedMessage
from zonechain.node.types.limits import VALIDATORS_MAX
from zonechain.node.types.transaction import check_chain_id
from zonechain.vm.encoding import U128_MAX, Writer

GENESIS_FORMAT_VERSION: Final = 1
GENESIS_HASH_DOMAIN: Final = b"zonechain/genesis/v1"
"""Domain of the genesis hash; distinct from every domain in node/types/hashing.py."""

VOTING_POWER_MAX: Final = 1 << 50
"""Per validator. With at most VALIDATORS_MAX (256) validators the total stays
far below 2**63, so quorum arithmetic never overflows a signed 64-bit integer
in any implementation."""

ACCOUNTS_MAX: Final = 10_000
"""Initial accounts in genesis: ample for a consortium, bounded for loading."""

JSON_NESTING_MAX: Final = 32
"""Depth of the free-form zone / organisation objects."""

PORT_MAX: Final = 65_535
NAME_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
"""Validator, account and node names: lowercase, short, file-name safe."""

_HOST_PATTERN: Final = re.compile(r"^[A-Za-z0-9.:\[\]-]{1,253}$")
_GENESIS_KEYS: Final = frozenset({
    "format_version", "chain_id", "genesis_time_ms", "ca_fingerprint",
    "validators", "accounts", "zones", "organisations",
})

JsonValue = None | bool | int | str | list["JsonValue"] | dict[str, "JsonValue"]


class GenesisError(ValueError):
    """A genesis file that is not valid: ``path`` and ``key`` say where."""

    def __init__(self, path: Path | str, key: str, reason: str) -> None:
        super().__init__(f"{path}: {key}: {reason}")
        self.path = str(path)
        self.key = key
        self.reason = reason


class ConfigError(ValueError):
    """A node config that is not valid: ``path`` and ``key`` say where."""

    def __init__(self, path: Path | str, key: str, reason: str) -> None:
        super().__init__(f"{path}: {key}: {reason}")
        self.path = str(path)
        self.key = key
        self.reason = reason


# ---- addresses ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostPort:
    """A ``host:port`` listen or dial address."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_host_port(text: str) -> HostPort:
    """``host:port`` (port 0..65535); ValueError with the reason otherwise."""
    host, separator, port_text = text.rpartition(":")
    if not separator or not host:
        raise ValueError(f"{text!r} is not host:port")
    if _HOST_PATTERN.fullmatch(host) is None:
        raise ValueError(f"{host!r} is not a valid host name or IP address")
    if not port_text.isdigit() or int(port_text) > PORT_MAX:
        raise ValueError(f"port {port_text!r} is not a number in 0..{PORT_MAX}")
    return HostPort(host, int(port_text))


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """A peer to dial: ``node_id@host:port``."""

    node_id: str
    address: HostPort

    def __str__(self) -> str:
        return f"{self.node_id}@{self.address}"


def parse_peer_address(text: str) -> PeerAddress:
    node_id, separator, rest = text.partition("@")
    if not separator:
        raise ValueError(f"{text!r} is not node_id@host:port")
    if NAME_PATTERN.fullmatch(node_id) is None:
        raise ValueError(f"node id {node_id!r} must match {NAME_PATTERN.pattern}")
    return PeerAddress(node_id, parse_host_port(rest))


# ---- genesis -------------------------------------------------------------------


def _check_name_and_key(name: str, public_key: bytes) -> None:
    if NAME_PATTERN.fullmatch(name) is None:
        raise ValueError(f"name {name!r} must match {NAME_PATTERN.pattern}")
    if len(public_key) != 32:
        raise ValueError(f"{name}: public key must be 32 bytes")


@dataclass(frozen=True, slots=True)
class GenesisValidator:
    name: str
    public_key: bytes
    power: int
    p2p_address: HostPort

    def __post_init__(self) -> None:
        _check_name_and_key(self.name, self.public_key)
        if not 1 <= self.power <= VOTING_POWER_MAX:
            raise ValueError(f"validator {self.name}: power must be in 1..{VOTING_POWER_MAX}")

    @property
    def address(self) -> bytes:
        return account_address(self.public_key)


@dataclass(frozen=True, slots=True)
class GenesisAccount:
    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name_and_key(self.name, self.public_key)

    @property
    def address(self) -> bytes:
        return account_address(self.public_key)


@dataclass(frozen=True, slots=True)
class Genesis:
    """The agreed starting point of a network. ``hash`` is what nodes compare."""

    chain_id: str
    genesis_time_ms: int
    ca_fingerprint: bytes
    validators: tuple[GenesisValidator, ...]
    accounts: tuple[GenesisAccount, ...] = ()
    zones: tuple[JsonValue, ...] = ()
    organisations: tuple[JsonValue, ...] = ()

    def __post_init__(self) -> None:
        check_chain_id("genesis.chain_id", self.chain_id)
        if len(self.ca_fingerprint) != 32:
            raise ValueError("genesis.ca_fingerprint must be 32 bytes")
        if not 1 <= len(self.validators) <= VALIDATORS_MAX:
            raise ValueError(f"genesis needs 1..{VALIDATORS_MAX} validators")

    def encode(self) -> bytes:
        """The canonical bytes (see the module docstring); the hash is over these."""
        writer = Writer().u8(GENESIS_FORMAT_VERSION).string(self.chain_id)
        writer.u64(self.genesis_time_ms).fixed(self.ca_fingerprint, 32)
        writer.list(self.validators, _write_validator)
        writer.list(self.accounts, _write_account)
        writer.list(self.zones, write_json_value)
        writer.list(self.organisations, write_json_value)
        return bytes(writer)

    @property
    def hash(self) -> bytes:
        return hashlib.sha256(GENESIS_HASH_DOMAIN + self.encode()).digest()

    @property
    def total_power(self) -> int:
        return sum(validator.power for validator in self.validators)

    def validator_by_address(self, address: bytes) -> GenesisValidator | None:
        for validator in self.validators:
            if validator.address == address:
                return validator
        return None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "format_version": GENESIS_FORMAT_VERSION,
            "chain_id": self.chain_id,
            "genesis_time_ms": self.genesis_time_ms,
            "ca_fingerprint": self.ca_fingerprint.hex(),
            "validators": [_validator_json(validator) for validator in self.validators],
            "accounts": [_account_json(account) for account in self.accounts],
            "zones": list(self.zones),
            "organisations": list(self.organisations),
        }


def _write_validator(writer: Writer, validator: GenesisValidator) -> None:
    writer.string(validator.name).fixed(validator.public_key, 32).u64(validator.power)
    writer.string(str(validator.p2p_address))


def _write_account(writer: Writer, account: GenesisAccount) -> None:
    writer.string(account.name).fixed(account.public_key, 32)


_JSON_NULL, _JSON_BOOL, _JSON_INT, _JSON_STRING, _JSON_LIST, _JSON_OBJECT = range(6)


def write_json_value(writer: Writer, value: JsonValue) -> None:
    """Canonical bytes of a JSON value: a tag byte, then the value; object keys sorted."""
    if value is None:
        writer.u8(_JSON_NULL)
    elif isinstance(value, bool):
        writer.u8(_JSON_BOOL).bool(value)
    elif isinstance(value, int):
        writer.u8(_JSON_INT).bool(value < 0).u128(abs(value))
    elif isinstance(value, str):
        writer.u8(_JSON_STRING).string(value)
    elif isinstance(value, list):
        writer.u8(_JSON_LIST).list(value, write_json_value)
    else:
        pairs = sorted(value.items(), key=lambda pair: pair[0].encode())
        writer.u8(_JSON_OBJECT).list(pairs, _write_json_pair)


def _write_json_pair(writer: Writer, pair: tuple[str, JsonValue]) -> None:
    writer.string(pair[0])
    write_json_value(writer, pair[1])


def _validator_json(validator: GenesisValidator) -> dict[str, JsonValue]:
    return {
        "name": validator.name,
        "public_key": validator.public_key.hex(),
        "address": format_address(validator.address),
        "power": validator.power,
        "p2p_address": str(validator.p2p_address),
    }


def _account_json(account: GenesisAccount) -> dict[str, JsonValue]:
    return {
        "name": account.name,
        "public_key": account.public_key.hex(),
        "address": format_address(account.address),
    }


def encode_genesis_json(genesis: Genesis) -> str:
    return json.dumps(genesis.to_json(), indent=2) + "\n"


def save_genesis(genesis: Genesis, path: Path) -> None:
    path.write_text(encode_genesis_json(genesis), encoding="utf-8")


# ---- genesis loading -------------------------------------------------------------


class _GenesisReader:
    """Field access on parsed genesis JSON that raises GenesisError naming the key."""

    def __init__(self, path: Path | str) -> None:
        self.path = path

    def fail(self, key: str, reason: str) -> GenesisError:
        return GenesisError(self.path, key, reason)

    def field(self, table: Mapping[str, object], key: str, prefix: str = "") -> object:
        if key not in table:
            raise self.fail(prefix + key, "missing")
        return table[key]

    def integer(self, table: Mapping[str, object], key: str, prefix: str,
                low: int, high: int) -> int:
        value = self.field(table, key, prefix)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(prefix + key, f"must be an integer in {low}..{high}, got {value!r}")
        return value

    def text(self, table: Mapping[str, object], key: str, prefix: str = "") -> str:
        value = self.field(table, key, prefix)
        if not isinstance(value, str):
            raise self.fail(prefix + key, f"must be a string, got {type(value).__name__}")
        return value

    def name(self, table: Mapping[str, object], prefix: str) -> str:
        value = self.text(table, "name", prefix)
        if NAME_PATTERN.fullmatch(value) is None:
            raise self.fail(prefix + "name", f"{value!r} must match {NAME_PATTERN.pattern}")
        return value

    def hex_bytes(self, table: Mapping[str, object], key: str, prefix: str, size: int) -> bytes:
        value = self.text(table, key, prefix)
        try:
            data = bytes.fromhex(value)
        except ValueError:
            raise self.fail(prefix + key, "is not hex") from None
        if len(data) != size:
            raise self.fail(prefix + key, f"must be {size} bytes, got {len(data)}")
        return data

    def objects(self, table: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
        value = self.field(table, key)
        if not isinstance(value, list):
            raise self.fail(key, "must be a list")
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{index}]", "must be an object")
        return value

    def public_key_and_address(self, table: Mapping[str, object], prefix: str) -> bytes:
        public_key = self.hex_bytes(table, "public_key", prefix, 32)
        address = self.text(table, "address", prefix)
        if address != format_address(account_address(public_key)):
            raise self.fail(prefix + "address", "does not match public_key")
        return public_key


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_float(text: str) -> object:
    raise ValueError(f"floats are not allowed in genesis ({text})")


def check_json_value(value: object, where: str, path: Path | str, depth: int = 0) -> JsonValue:
    """``value`` as a JsonValue (no floats, bounded depth, u128 integers)."""
    if depth > JSON_NESTING_MAX:
        raise GenesisError(path, where, f"nested deeper than {JSON_NESTING_MAX}")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > U128_MAX:
            raise GenesisError(path, where, "integer out of the u128 range")
        return value
    if isinstance(value, list):
        return [check_json_value(item, f"{where}[{index}]", path, depth + 1)
                for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {str(key): check_json_value(item, f"{where}.{key}", path, depth + 1)
                for key, item in value.items()}
    raise GenesisError(path, where, f"unsupported value of type {type(value).__name__}")


def _load_validators(reader: _GenesisReader, document: Mapping[str, object]) -> \
        tuple[GenesisValidator, ...]:
    items = reader.objects(document, "validators")
    if not 1 <= len(items) <= VALIDATORS_MAX:
        raise reader.fail("validators", f"must hold 1..{VALIDATORS_MAX} validators")
    validators: list[GenesisValidator] = []
    for index, item in enumerate(items):
        prefix = f"validators[{index}]."
        public_key = reader.public_key_and_address(item, prefix)
        address_text = reader.text(item, "p2p_address", prefix)
        try:
            p2p_address = parse_host_port(address_text)
        except ValueError as error:
            raise reader.fail(prefix + "p2p_address", str(error)) from None
        power = reader.integer(item, "power", prefix, 1, VOTING_POWER_MAX)
        validators.append(GenesisValidator(reader.name(item, prefix), public_key, power,
                                           p2p_address))
    _check_unique(reader, "validators", [v.name for v in validators], "name")
    _check_unique(reader, "validators", [v.public_key.hex() for v in validators], "public_key")
    return tuple(validators)


def _load_accounts(reader: _GenesisReader, document: Mapping[str, object]) -> \
        tuple[GenesisAccount, ...]:
    items = reader.objects(document, "accounts")
    if len(items) > ACCOUNTS_MAX:
        raise reader.fail("accounts", f"more than {ACCOUNTS_MAX} accounts")
    accounts = tuple(
        GenesisAccount(reader.name(item, f"accounts[{index}]."),
                       reader.public_key_and_address(item, f"accounts[{index}]."))
        for index, item in enumerate(items)
    )
    _check_unique(reader, "accounts", [a.name for a in accounts], "name")
    _check_unique(reader, "accounts", [a.public_key.hex() for a in accounts], "public_key")
    return accounts


def _check_unique(reader: _GenesisReader, key: str, values: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise reader.fail(f"{key}[{index}].{what}", f"duplicate {what} {value!r}")
        seen.add(value)


def parse_genesis(text: str, path: Path | str = "genesis.json") -> Genesis:
    """A Genesis from JSON text; GenesisError naming ``path`` and the key otherwise."""
    reader = _GenesisReader(path)
    try:
        document = json.loads(text, object_pairs_hook=_reject_duplicate_keys,
                              parse_float=_reject_float)
    except ValueError as error:
        raise reader.fail("(document)", f"not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise reader.fail("(document)", "must be a JSON object")
    unknown = sorted(set(document) - _GENESIS_KEYS)
    if unknown:
        raise reader.fail(unknown[0], "unknown key")
    reader.integer(document, "format_version", "", GENESIS_FORMAT_VERSION,
                   GENESIS_FORMAT_VERSION)
    chain_id = reader.text(document, "chain_id")
    try:
        check_chain_id("chain_id", chain_id)
    except MalformedMessage as error:
        raise reader.fail("chain_id", error.reason) from None
    return Genesis(
        chain_id=chain_id,
        genesis_time_ms=reader.integer(document, "genesis_time_ms", "", 0, (1 << 64) - 1),
        ca_fingerprint=reader.hex_bytes(document, "ca_fingerprint", "", 32),
        validators=_load_validators(reader, document),
        accounts=_load_accounts(reader, document),
        zones=tuple(check_json_value(item, f"zones[{index}]", path)
                    for index, item in enumerate(reader.objects(document, "zones"))),
        organisations=tuple(
            check_json_value(item, f"organisations[{index}]", path)
            for index, item in enumerate(reader.objects(document, "organisations"))),
    )


def load_genesis(path: Path) -> Genesis:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise GenesisError(path, "(file)", f"cannot read: {error}") from None
    return parse_genesis(text, path)


# ---- node config ------------------------------------------------------------------

BLOCK_INTERVAL_MS_DEFAULT: Final = 200
"""On the 4-validator devnet benchmark at 1,500 tx/s (benchmarks/RESULTS.md, "Fewer,
fuller blocks"): ~10% less node CPU per transaction than 0, latency no worse; 300
saved little more and raised the median."""


@dataclass(frozen=True, slots=True)
class ConsensusTimeouts:
    """Round timeouts (Tendermint): base + delta * round, in milliseconds."""

    propose_ms: int = 3_000
    propose_delta_ms: int = 500
    prevote_ms: int = 1_000
    prevote_delta_ms: int = 500
    precommit_ms: int = 1_000
    precommit_delta_ms: int = 500
    commit_ms: int = 1_000
    block_interval_ms: int = BLOCK_INTERVAL_MS_DEFAULT
    """A proposer proposes no sooner than this long after its previous commit began
    (0: at once; no wait while a full block is ready). Under load a block then
    gathers the transactions of the whole interval instead of the network spending
    its CPU on many small blocks (each costs votes, synced writes and the tree's
    upper levels): CometBFT's ``timeout_commit`` plays this part. Must stay below
    ``propose_ms`` / 2; optional in config.toml (absent: the default, or the most
    ``propose_ms`` allows)."""

    def __post_init__(self) -> None:
        ceiling = block_interval_ceiling_ms(self.propose_ms)
        if not 0 <= self.block_interval_ms <= ceiling:
            raise ValueError(f"block_interval_ms must be in 0..{ceiling} (below propose_ms "
                             f"/ 2), got {self.block_interval_ms}")


def block_interval_ceiling_ms(propose_ms: int) -> int:
    """The largest ``block_interval_ms`` allowed with ``propose_ms``: below half of it, so
    the others' propose timeout never runs out while a proposer waits (0 for tiny ones)."""
    return max((propose_ms + 1) // 2 - 1, 0)


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    txs_max: int = 10_000
    """Pending transactions held: about one full block (BLOCK_TXS_MAX)."""
    bytes_max: int = 64 * 1024 * 1024
    """Total bytes of pending transactions: bounds the node's memory."""


@dataclass(frozen=True, slots=True)
class P2pSettings:
    listen: HostPort
    external_address: HostPort
    peers: tuple[PeerAddress, ...]
    send_queue_messages_max: int = 1_024
    """Per peer and stream; the oldest message is dropped when full (docs/OPERATIONS.md)."""


RETAIN_HEIGHTS_INIT: Final = 1_000
"""``zonechain init`` writes this ``storage.retain_heights``. A pruning node's tree
and history hold about this many heights of garbage (measured ~0.5 MB a height at
1,000 transfers a block, docs/OPERATIONS.md "State retention"), so ~0.5 GB at
full load, where an archive node grows without bound. 1,000 heights is 15+
minutes of blocks at the default timeouts: a client proving a read at latest - 1,
or paging a view at a fixed height, is served; block sync needs blocks, which
are kept, never old tree versions. Devnets and tests rarely reach 1,000 heights,
so they behave as archive nodes unless they set a smaller window."""

RETAIN_HEIGHTS_MAX: Final = 2**63 - 1
"""Any height (i64, like the store's): a value that large keeps everything too."""


@dataclass(frozen=True, slots=True)
class StorageSettings:
    retain_heights: int = 0
    """Heights below the latest whose state proofs, values and view calls stay
    servable (the tree and the value history below are pruned); 0 keeps every
    height (archive)."""


@dataclass(frozen=True, slots=True)
class NodePaths:
    """Absolute paths, resolved against ``home`` at load time."""

    genesis: Path
    data: Path
    validator_key: Path | None
    tls_certificate: Path
    tls_key: Path
    tls_ca: Path


@dataclass(frozen=True, slots=True)
class ClientTls:
    """Server TLS for the client gRPC port: a PEM certificate (chain) and its key.

    Any CA may issue it (``init --client-tls`` uses the network CA); clients
    trust that CA (the SDK's ``tls_root_cert``). Clients are not asked for a
    certificate: who may change state is decided by transaction signatures."""

    certificate: Path
    key: Path


@dataclass(frozen=True, slots=True)
class NodeConfig:
    node_id: str
    home: Path
    p2p: P2pSettings
    client_listen: HostPort
    metrics_listen: HostPort
    consensus: ConsensusTimeouts
    mempool: MempoolLimits
    paths: NodePaths
    client_tls: ClientTls | None = None
    """None: the client port is plaintext."""
    storage: StorageSettings = StorageSettings()

    @property
    def is_validator(self) -> bool:
        return self.paths.validator_key is not None


TIMEOUT_MS_MAX: Final = 600_000
"""Ten minutes: a longer consensus timeout is a typo, not a setting."""
MEMPOOL_TXS_MAX: Final = 1_000_000
MEMPOOL_BYTES_MAX: Final = 16 * 1024 * 1024 * 1024
SEND_QUEUE_MESSAGES_MAX: Final = 1_000_000


class _ConfigReader:
    """Typed access to parsed TOML that raises ConfigError naming the file and key."""

    def __init__(self, path: Path, document: Mapping[str, object]) -> None:
        self.path = path
        self.document = document

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(self.path, key, reason)

    def table(self, key: str) -> Mapping[str, object]:
        value = self.document.get(key)
        if not isinstance(value, dict):
            raise self.fail(key, "missing table" if value is None else "must be a table")
        return value

    def value(self, key: str, kind: type[object]) -> object:
        section, _, leaf = key.rpartition(".")
        table = self.table(section) if section else self.document
        if leaf not in table:
            raise self.fail(key, "missing")
        value = table[leaf]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(key, f"must be a {kind.__name__}, got {type(value).__name__}")
        return value

    def text(self, key: str) -> str:
        value = self.value(key, str)
        assert isinstance(value, str)
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.value(key, int)
        assert isinstance(value, int)
        if not low <= value <= high:
            raise self.fail(key, f"must be in {low}..{high}, got {value}")
        return value

    def host_port(self, key: str) -> HostPort:
        try:
            return parse_host_port(self.text(key))
        except ValueError as error:
            raise self.fail(key, str(error)) from None

    def peers(self, key: str) -> tuple[PeerAddress, ...]:
        items = self.value(key, list)
        assert isinstance(items, list)
        peers: list[PeerAddress] = []
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise self.fail(f"{key}[{index}]", "must be a string node_id@host:port")
            try:
                peers.append(parse_peer_address(item))
            except ValueError as error:
                raise self.fail(f"{key}[{index}]", str(error)) from None
        return tuple(peers)

    def path_under(self, key: str, home: Path) -> Path:
        text = self.text(key)
        if not text:
            raise self.fail(key, "must not be empty")
        return home / text

    def check_known(self, allowed: Mapping[str, frozenset[str]]) -> None:
        """Refuse unknown tables and keys: a misspelt key must not be silently ignored."""
        for key, value in self.document.items():
            if key not in allowed:
                raise self.fail(key, "unknown key")
            if isinstance(value, dict):
                for inner in value:
                    if inner not in allowed[key]:
                        raise self.fail(f"{key}.{inner}", "unknown key")


_TIMEOUT_KEYS: Final = tuple(ConsensusTimeouts.__dataclass_fields__)
_CONFIG_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "node_id": frozenset(),
    "home": frozenset(),
    "p2p": frozenset({"listen", "external_address", "peers", "send_queue_messages_max"}),
    "client": frozenset({"listen", "tls_certificate", "tls_key"}),
    "metrics": frozenset({"listen"}),
    "consensus": frozenset(_TIMEOUT_KEYS),
    "mempool": frozenset({"txs_max", "bytes_max"}),
    "paths": frozenset({"genesis", "data", "validator_key", "tls_certificate", "tls_key",
                        "tls_ca"}),
    "storage": frozenset({"retain_heights"}),
}


def _load_paths(reader: _ConfigReader, home: Path) -> NodePaths:
    paths = reader.table("paths")
    validator_key = reader.path_under("paths.validator_key", home) \
        if "validator_key" in paths else None
    return NodePaths(
        genesis=reader.path_under("paths.genesis", home),
        data=reader.path_under("paths.data", home),
        validator_key=validator_key,
        tls_certificate=reader.path_under("paths.tls_certificate", home),
        tls_key=reader.path_under("paths.tls_key", home),
        tls_ca=reader.path_under("paths.tls_ca", home),
    )


def _load_client_tls(reader: _ConfigReader, home: Path) -> ClientTls | None:
    client = reader.table("client")
    present = [key for key in ("tls_certificate", "tls_key") if key in client]
    if not present:
        return None
    if len(present) == 1:
        missing = "tls_key" if present[0] == "tls_certificate" else "tls_certificate"
        raise reader.fail(f"client.{missing}", f"missing (client.{present[0]} is set: "
                                               "give both or neither)")
    return ClientTls(certificate=reader.path_under("client.tls_certificate", home),
                     key=reader.path_under("client.tls_key", home))


def _load_storage(reader: _ConfigReader) -> StorageSettings:
    """The optional ``[storage]`` table; absent table or key: the archive default."""
    if "storage" not in reader.document:
        return StorageSettings()
    if "retain_heights" not in reader.table("storage"):
        return StorageSettings()
    return StorageSettings(
        retain_heights=reader.integer("storage.retain_heights", 0, RETAIN_HEIGHTS_MAX))


def _load_p2p(reader: _ConfigReader) -> P2pSettings:
    return P2pSettings(
        listen=reader.host_port("p2p.listen"),
        external_address=reader.host_port("p2p.external_address"),
        peers=reader.peers("p2p.peers"),
        send_queue_messages_max=reader.integer("p2p.send_queue_messages_max", 1,
                                               SEND_QUEUE_MESSAGES_MAX),
    )


def parse_node_config(text: str, path: Path) -> NodeConfig:
    """A NodeConfig from TOML text; ``path`` is where it was read (for errors and ``home``)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, "(document)", f"not valid TOML: {error}") from None
    reader = _ConfigReader(path, document)
    reader.check_known(_CONFIG_KEYS)
    node_id = reader.text("node_id")
    if NAME_PATTERN.fullmatch(node_id) is None:
        raise reader.fail("node_id", f"{node_id!r} must match {NAME_PATTERN.pattern}")
    home = (path.parent / reader.text("home")).resolve()
    timeouts = {key: reader.integer(f"consensus.{key}", 0 if "delta" in key else 1,
                                    TIMEOUT_MS_MAX)
                for key in _TIMEOUT_KEYS if key != "block_interval_ms"}
    ceiling = block_interval_ceiling_ms(timeouts["propose_ms"])
    if "block_interval_ms" in reader.table("consensus"):
        interval = reader.integer("consensus.block_interval_ms", 0, TIMEOUT_MS_MAX)
        if interval > ceiling:
            raise reader.fail("consensus.block_interval_ms",
                              f"must be below propose_ms / 2 (at most {ceiling}), "
                              f"got {interval}")
        timeouts["block_interval_ms"] = interval
    else:  # optional: older configs lack it
        timeouts["block_interval_ms"] = min(BLOCK_INTERVAL_MS_DEFAULT, ceiling)
    return NodeConfig(
        node_id=node_id,
        home=home,
        p2p=_load_p2p(reader),
        client_listen=reader.host_port("client.listen"),
        metrics_listen=reader.host_port("metrics.listen"),
        consensus=ConsensusTimeouts(**timeouts),
        mempool=MempoolLimits(
            txs_max=reader.integer("mempool.txs_max", 1, MEMPOOL_TXS_MAX),
            bytes_max=reader.integer("mempool.bytes_max", 1, MEMPOOL_BYTES_MAX),
        ),
        paths=_load_paths(reader, home),
        client_tls=_load_client_tls(reader, home),
        storage=_load_storage(reader),
    )


def load_node_config(path: Path) -> NodeConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path, "(file)", f"cannot read: {error}") from None
    return parse_node_config(text, path)


# ---- node config writing ------------------------------------------------------------

TomlValue = str | int | list[str]


def _toml_value(value: TomlValue) -> str:
    # JSON string escapes (\", \\, \uXXXX) are valid TOML basic-string escapes.
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    return "[" + ", ".join(json.dumps(item) for item in value) + "]"


def render_toml(document: Mapping[str, TomlValue | Mapping[str, TomlValue]],
                header: str = "") -> str:
    """TOML text for a two-level document of strings, integers and string lists."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    tables: list[tuple[str, Mapping[str, TomlValue]]] = []
    for key, value in document.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in tables:
        lines.extend(["", f"[{name}]"])
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
    return "\n".join(lines) + "\n"


def node_config_document(config: NodeConfig) -> dict[str, TomlValue | Mapping[str, TomlValue]]:
    """The TOML document for ``config``, with paths written relative to ``home``."""
    home = config.home

    def relative(path: Path) -> str:
        return str(path.relative_to(home)) if path.is_relative_to(home) else \
            _relative_path(path, home)

    paths: dict[str, TomlValue] = {
        "genesis": relative(config.paths.genesis),
        "data": relative(config.paths.data),
        "tls_certificate": relative(config.paths.tls_certificate),
        "tls_key": relative(config.paths.tls_key),
        "tls_ca": relative(config.paths.tls_ca),
    }
    if config.paths.validator_key is not None:
        paths["validator_key"] = relative(config.paths.validator_key)
    timeouts = config.consensus
    client: dict[str, TomlValue] = {"listen": str(config.client_listen)}
    if config.client_tls is not None:
        client["tls_certificate"] = relative(config.client_tls.certificate)
        client["tls_key"] = relative(config.client_tls.key)
    return {
        "node_id": config.node_id,
        "home": ".",
        "p2p": {
            "listen": str(config.p2p.listen),
            "external_address": str(config.p2p.external_address),
            "peers": [str(peer) for peer in config.p2p.peers],
            "send_queue_messages_max": config.p2p.send_queue_messages_max,
        },
        "client": client,
        "metrics": {"listen": str(config.metrics_listen)},
        "consensus": {key: getattr(timeouts, key) for key in _TIMEOUT_KEYS},
        "mempool": {"txs_max": config.mempool.txs_max, "bytes_max": config.mempool.bytes_max},
        "paths": paths,
        "storage": {"retain_heights": config.storage.retain_heights},
    }


def _relative_path(path: Path, home: Path) -> str:
    return os.path.relpath(path, home)


def save_node_config(config: NodeConfig, path: Path) -> None:
    """Write ``config`` to ``path``; ``config.home`` must be ``path``'s directory."""
    header = (f"zonechain node configuration for {config.node_id}.\n"
              "Relative paths resolve against `home`, which resolves against this file's\n"
              "directory. See docs/OPERATIONS.md for every key.")
    path.write_text(render_toml(node_config_document(config), header), encoding="utf-8")


# ---- key files ------------------------------------------------------------------------

KEY_FILE_TYPE: Final = "ed25519"
KEY_FILE_GROUP_OTHER_BITS: Final = 0o077
"""A key file readable or writable by group or others is refused, as ssh does."""


def encode_key_file(seed: bytes, public_key: bytes) -> bytes:
    """The JSON text of an ed25519 key file (seed and public key, hex)."""
    document = {"type": KEY_FILE_TYPE, "public_key": public_key.hex(), "seed": seed.hex()}
    return (json.dumps(document, indent=2) + "\n").encode()


def load_key_seed(path: Path) -> tuple[bytes, bytes]:
    """(seed, public_key) from a key file; ConfigError if it is unreadable, exposed or bad.

    The caller turns the seed into ``zonechain.node.crypto.PrivateKey`` and
    should check that its public key matches the one returned here.
    """
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path, "(file)", f"cannot read key file: {error}") from None
    if mode & KEY_FILE_GROUP_OTHER_BITS:
        raise ConfigError(path, "(file)", f"key file mode {mode & 0o777:o} is too open; "
                                          "chmod 600 it")
    try:
        document = json.loads(text)
    except ValueError:
        raise ConfigError(path, "(document)", "not a JSON key file") from None
    if not isinstance(document, dict) or document.get("type") != KEY_FILE_TYPE:
        raise ConfigError(path, "type", f"must be {KEY_FILE_TYPE!r}")
    values: list[bytes] = []
    for key in ("seed", "public_key"):
        try:
            value = bytes.fromhex(str(document.get(key, "")))
        except ValueError:
            raise ConfigError(path, key, "is not hex") from None
        if len(value) != 32:
            raise ConfigError(path, key, f"must be 32 bytes, got {len(value)}")
        values.append(value)
    return values[0], values[1]


def load_validator_key(path: Path) -> PrivateKey:
    """The node's ed25519 key; ConfigError unless the file's public key matches its seed."""
    seed, public_key = load_key_seed(path)
    key = PrivateKey.from_seed(seed)
    if key.public_key != public_key:
        raise ConfigError(path, "public_key", "does not match the seed")
    return key
