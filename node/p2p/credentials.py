"""A node's TLS material loaded from disk, as grpc credentials for mutual TLS.

Guarantees: the server requires and verifies a client certificate
(``require_client_auth=True``) chained to the network CA; the client presents
its own certificate and trusts only the network CA (no system roots). When
genesis is given, the CA must carry the fingerprint genesis pins. A node's
own identity is read from its certificate, so a mismatched certificate is
found at start-up, not at the first handshake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from zonechain.node import tls
from zonechain.node.tls import PeerIdentity, TlsError


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    certificate_pem: bytes
    private_key_pem: bytes
    ca_pem: bytes
    identity: PeerIdentity

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key_pem, self.certificate_pem)],
            root_certificates=self.ca_pem,
            require_client_auth=True,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem,
            private_key=self.private_key_pem,
            certificate_chain=self.certificate_pem,
        )


def load_tls_material(certificate: Path, private_key: Path, ca: Path,
                      ca_fingerprint: bytes | None = None) -> TlsMaterial:
    """Read the three PEM files; TlsError naming the file for anything unusable."""
    ca_certificate = (tls.check_ca_fingerprint(ca, ca_fingerprint) if ca_fingerprint
                      is not None else tls.load_certificate(ca))
    own = tls.load_certificate(certificate)
    if own.issuer != ca_certificate.subject:
        raise TlsError(f"{certificate}: not issued by the CA in {ca}")
    try:
        key_pem = private_key.read_bytes()
    except OSError as error:
        raise TlsError(f"{private_key}: cannot read key: {error.strerror}") from None
    return TlsMaterial(
        certificate_pem=certificate.read_bytes(),
        private_key_pem=key_pem,
        ca_pem=ca.read_bytes(),
        identity=tls.peer_identity(own),
    )
