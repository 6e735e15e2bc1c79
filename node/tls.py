"""The network's certificate authority and the per-node TLS certificates.

Guarantees:
- ``create_network_ca`` makes a self-signed x509 CA (ECDSA P-256, basic
  constraints CA with path length 0, key usage cert-sign only). Its SHA-256
  fingerprint over the DER bytes is written into genesis
  (``ca_fingerprint``), so every node can check that the CA it trusts is the
  one the network agreed on (``check_ca_fingerprint``).
- ``issue_node_certificate`` signs one certificate per node with the CA. It is
  valid for both TLS server and TLS client authentication (mutual TLS between
  validators), names ``127.0.0.1`` and ``localhost`` plus any extra hosts in
  its subjectAltName, and carries the node's identity as one URI SAN::

      zonechain://node/<node id>/<validator ed25519 public key, 64 hex>

  The CA signs that binding, so a peer whose certificate chains to the CA is
  identified by it: ``peer_identity_from_pem`` returns the node id and the
  validator public key (full nodes carry an all-zero key: they do not vote).
  It also names ``<node id>.node.zonechain`` (``node_host_name``) as a DNS
  SAN: a client dialling node X sets that as the TLS target name, so the
  handshake itself proves the server is node X.
- Private keys are written with file mode 0600 (``write_private_key``), and
  never leave the node's directory.

TLS keys are ECDSA P-256 rather than ed25519: every TLS stack (BoringSSL in
grpcio included) handshakes with P-256, and the validator's consensus key stays
a separate ed25519 key that is used only for votes and proposals.

Errors: ``TlsError`` (a ValueError) for a certificate or key that does not
load, lacks the identity URI, or does not match the pinned fingerprint.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERTIFICATE_VALIDITY_DAYS: Final = 3650
"""Ten years: a devnet or pilot network outlives any shorter default, and
rotation is an explicit operator action (re-run init or re-issue from the CA)."""

CLOCK_SKEW_ALLOWANCE: Final = datetime.timedelta(minutes=10)
"""Certificates are valid from slightly before their creation, so that a peer
whose clock runs a few minutes behind still accepts them."""

PRIVATE_KEY_FILE_MODE: Final = 0o600
"""Owner read/write only, for every private key written."""

IDENTITY_URI_PREFIX: Final = "zonechain://node/"
NODE_HOST_SUFFIX: Final = ".node.zonechain"
NO_VALIDATOR_KEY: Final = bytes(32)
"""The validator key carried by a full node's certificate: it does not vote."""

NODE_ID_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
"""Node ids are short lowercase names (``node0``): they appear in URIs, file
paths and log lines, so keep them to a safe alphabet."""

_IDENTITY_URI = re.compile(r"^zonechain://node/([a-z0-9][a-z0-9-]{0,62})/([0-9a-f]{64})$")


class TlsError(ValueError):
    """A certificate or key that cannot be used: what is wrong, and with which file."""


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """Who a certificate says a peer is: its node id and validator public key."""

    node_id: str
    validator_public_key: bytes

    @property
    def is_validator(self) -> bool:
        return self.validator_public_key != NO_VALIDATOR_KEY


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """The network CA: its private key and self-signed certificate."""

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def fingerprint(self) -> bytes:
        return certificate_fingerprint(self.certificate)


@dataclass(frozen=True, slots=True)
class NodeCertificate:
    """One node's TLS key pair and the CA-signed certificate for it."""

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def private_key_pem(self) -> bytes:
        return _private_key_pem(self.private_key)


def certificate_fingerprint(certificate: x509.Certificate) -> bytes:
    """SHA-256 over the certificate's DER encoding (32 bytes)."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()


def identity_uri(node_id: str, validator_public_key: bytes) -> str:
    if NODE_ID_PATTERN.fullmatch(node_id) is None:
        raise TlsError(f"node id {node_id!r} must match {NODE_ID_PATTERN.pattern}")
    if len(validator_public_key) != len(NO_VALIDATOR_KEY):
        raise TlsError("validator public key must be 32 bytes")
    return f"{IDENTITY_URI_PREFIX}{node_id}/{validator_public_key.hex()}"


def node_host_name(node_id: str) -> str:
    """The DNS name in node ``node_id``'s certificate that clients verify when dialling it."""
    return f"{node_id}{NODE_HOST_SUFFIX}"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def create_network_ca(common_name: str) -> CertificateAuthority:
    """A new self-signed CA for one network."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key, certificate)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not cert_sign,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _subject_alternative_names(node_id: str, hosts: list[str],
                               uri: str) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
    seen: set[str] = set()
    for host in [node_host_name(node_id), "127.0.0.1", "localhost", *hosts]:
        if host in seen:
            continue
        seen.add(host)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def issue_node_certificate(
    authority: CertificateAuthority,
    node_id: str,
    validator_public_key: bytes,
    hosts: list[str] | None = None,
) -> NodeCertificate:
    """A certificate for ``node_id`` signed by ``authority`` (server and client auth)."""
    uri = identity_uri(node_id, validator_public_key)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(_subject_alternative_names(node_id, list(hosts or []), uri), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.private_key.public_key()),
            critical=False,
        )
        .sign(authority.private_key, hashes.SHA256())
    )
    return NodeCertificate(key, certificate)


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_key(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file created with mode 0600 (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_KEY_FILE_MODE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.chmod(path, PRIVATE_KEY_FILE_MODE)


def save_authority(authority: CertificateAuthority, directory: Path) -> None:
    """``directory``/ca.crt (public) and ``directory``/ca.key (0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.crt").write_bytes(authority.certificate_pem)
    write_private_key(directory / "ca.key", _private_key_pem(authority.private_key))


def load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as error:
        raise TlsError(f"{path}: cannot read certificate: {error.strerror}") from None
    except ValueError as error:
        raise TlsError(f"{path}: not a PEM certificate ({error})") from None


def check_ca_fingerprint(path: Path, expected: bytes) -> x509.Certificate:
    """The CA certificate at ``path``, if its fingerprint is the one pinned in genesis."""
    certificate = load_certificate(path)
    actual = certificate_fingerprint(certificate)
    if actual != expected:
        raise TlsError(
            f"{path}: CA fingerprint {actual.hex()} does not match genesis {expected.hex()}"
        )
    return certificate


def peer_identity(certificate: x509.Certificate) -> PeerIdentity:
    """The identity a CA-signed node certificate carries in its URI SAN."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        raise TlsError("certificate carries no node identity (no subjectAltName)") from None
    for uri in names.value.get_values_for_type(x509.UniformResourceIdentifier):
        match = _IDENTITY_URI.fullmatch(uri)
        if match is not None:
            return PeerIdentity(match.group(1), bytes.fromhex(match.group(2)))
    raise TlsError(f"certificate carries no node identity ({IDENTITY_URI_PREFIX} URI)")


def peer_identity_from_pem(pem: bytes) -> PeerIdentity:
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        raise TlsError(f"peer certificate does not load: {error}") from None
    return peer_identity(certificate)
