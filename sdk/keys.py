"""Signing keys for businesses: generate, save encrypted, load, sign.

Guarantees:
- A ``Key`` never shows its secret: ``repr``/``str`` give only the address,
  it cannot be pickled or copied by ``copy``, and nothing here logs. The
  32 secret bytes leave it only through ``export_seed()``, named as such.
- Its address is exactly the node's (``zonechain.node.types.address``):
  ``Key.address`` is ``account_address(public_key)``; ``address_text`` is its
  checksummed ``zc...`` form.
- ``save_key`` writes a versioned JSON key file readable only by its owner
  (mode 0600), atomically (a crash leaves the old file or the new one, never
  half of one), and refuses to overwrite unless asked.
- ``load_key`` raises ``WrongPassphrase`` when the passphrase does not open
  the file and ``KeyFileError`` for anything else: unreadable, not JSON, an
  unknown version, out-of-range KDF parameters (checked before any work, so
  a hostile file cannot make scrypt exhaust memory), or any altered byte of
  the encrypted seed, the nonce, the address or the public key.

Key file (``KEY_FILE_VERSION`` = 1), all binary fields lowercase hex::

    {"version": 1, "kind": "zonechain-key",
     "address": "zc...", "public_key": "<32 B>",
     "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<16 B>"},
     "cipher": {"name": "aes-256-gcm", "nonce": "<12 B>"},
     "passphrase_check": "<32 B>", "ciphertext": "<32 B seed + 16 B tag>"}

scrypt(passphrase, salt) gives 64 bytes: the first 32 are the AES-256-GCM key,
the last 32 hash (sha256) to ``passphrase_check``. So a wrong passphrase is
told apart from a tampered file: the check fails before decryption is
tried. The header (version, kind, address, public key, KDF and cipher
parameters) is the GCM associated data, so editing any of it fails
authentication; the decrypted seed must also give the stored public key.
(A file whose salt or ``passphrase_check`` was edited reads as a wrong
passphrase: without the right derived key the two cases look the same.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Final, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from zonechain.node.crypto import SEED_BYTES, PrivateKey, sign_transaction
from zonechain.node.types.address import format_address
from zonechain.node.types.transaction import SignedTransaction, Transaction
from zonechain.sdk.errors import KeyFileError, WrongPassphrase

KEY_FILE_VERSION: Final = 1
KEY_FILE_KIND: Final = "zonechain-key"
KEY_FILE_MODE: Final = 0o600
"""Owner read/write only."""

SCRYPT_N_DEFAULT: Final = 1 << 15
"""scrypt cost (32 MiB of memory with r = 8, ~0.1 s here): the interactive
setting the scrypt paper and OWASP recommend for a key opened at start-up."""
SCRYPT_N_MIN: Final = 1 << 12
"""Lowest cost accepted when saving or loading (fast tests use it; keep the default)."""
SCRYPT_N_MAX: Final = 1 << 20
"""Highest cost a key file may ask for (1 GiB): a hostile file cannot make load exhaust memory."""
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_BYTES: Final = 16
NONCE_BYTES: Final = 12
"""AES-GCM's standard nonce size; a fresh random nonce per save under a fresh key."""
DERIVED_BYTES: Final = 64
"""32 bytes of AES-256 key + 32 bytes whose sha256 is the passphrase check."""
KEY_FILE_BYTES_MAX: Final = 64 * 1024
"""A key file is ~600 bytes; refuse to parse anything absurdly larger."""


class Key:
    """An ed25519 account key. Shows only its address; see the module docstring."""

    __slots__ = ("_private",)

    def __init__(self, private: PrivateKey) -> None:
        self._private = private

    @classmethod
    def generate(cls) -> Key:
        """A new key from the operating system's CSPRNG."""
        return cls(PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Key:
        """The key with this 32-byte ed25519 seed (ValueError for another length)."""
        return cls(PrivateKey.from_seed(seed))

    @property
    def public_key(self) -> bytes:
        return self._private.public_key

    @property
    def address(self) -> bytes:
        """The 20-byte account address, identical to the node's."""
        return self._private.address

    @property
    def address_text(self) -> str:
        """The checksummed human form ``zc<40 hex><8 hex>``."""
        return format_address(self.address)

    def export_seed(self) -> bytes:
        """The 32 secret bytes. Whoever holds them can sign as this account."""
        return self._private.seed

    def sign(self, tx: Transaction) -> SignedTransaction:
        """``tx`` signed by this key (ValueError if ``tx.sender`` is another key)."""
        return sign_transaction(tx, self._private)

    def sign_bytes(self, message: bytes) -> bytes:
        """A raw 64-byte ed25519 signature (for protocols outside transactions)."""
        return self._private.sign(message)

    @property
    def private_key(self) -> PrivateKey:
        """The node-side key object, for APIs of zonechain.node that take one."""
        return self._private

    def __repr__(self) -> str:
        return f"Key(address={self.address_text})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and other.public_key == self.public_key

    def __hash__(self) -> int:
        return hash(self.public_key)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Key cannot be pickled or copied; save it with save_key")


# --- key files ---------------------------------------------------------------------


def save_key(
    key: Key, path: str | Path, passphrase: str, *, overwrite: bool = False,
    scrypt_n: int = SCRYPT_N_DEFAULT,
) -> Path:
    """Write ``key`` encrypted under ``passphrase`` to ``path`` (mode 0600); return the path."""
    if not passphrase:
        raise ValueError("a key file needs a non-empty passphrase")
    _check_scrypt_n(scrypt_n, ValueError)
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
    header: dict[str, Any] = {
        "version": KEY_FILE_VERSION,
        "kind": KEY_FILE_KIND,
        "address": key.address_text,
        "public_key": key.public_key.hex(),
        "kdf": {"name": "scrypt", "n": scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P,
                "salt": os.urandom(SALT_BYTES).hex()},
        "cipher": {"name": "aes-256-gcm", "nonce": os.urandom(NONCE_BYTES).hex()},
    }
    encryption_key, check = _derive(passphrase, header["kdf"])
    ciphertext = AESGCM(encryption_key).encrypt(
        bytes.fromhex(header["cipher"]["nonce"]), key.export_seed(), _associated_data(header)
    )
    document = {**header, "passphrase_check": check.hex(), "ciphertext": ciphertext.hex()}
    _write_private(target, json.dumps(document, indent=2, sort_keys=True) + "\n")
    return target


def load_key(path: str | Path, passphrase: str) -> Key:
    """Read and decrypt a key file; WrongPassphrase or KeyFileError (see the module docstring)."""
    document = _read_document(Path(path))
    header = _parse_header(document, str(path))
    check = _hex_field(document, "passphrase_check", str(path), 32)
    ciphertext = _hex_field(document, "ciphertext", str(path), SEED_BYTES + 16)
    encryption_key, expected_check = _derive(passphrase, header["kdf"])
    if not hmac.compare_digest(check, expected_check):
        raise WrongPassphrase(f"{path}: the passphrase does not open this key file")
    try:
        seed = AESGCM(encryption_key).decrypt(
            bytes.fromhex(header["cipher"]["nonce"]), ciphertext, _associated_data(header)
        )
    except InvalidTag:
        raise KeyFileError(f"{path}: the key file was altered (authentication failed)") from None
    key = Key.from_seed(seed)
    if key.public_key.hex() != header["public_key"] or key.address_text != header["address"]:
        raise KeyFileError(f"{path}: the decrypted key does not match the file's public key")
    return key


def _derive(passphrase: str, kdf: dict[str, Any]) -> tuple[bytes, bytes]:
    derived = Scrypt(
        salt=bytes.fromhex(kdf["salt"]), length=DERIVED_BYTES, n=kdf["n"], r=kdf["r"], p=kdf["p"]
    ).derive(passphrase.encode("utf-8"))
    return derived[:32], hashlib.sha256(derived[32:]).digest()


def _associated_data(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _write_private(target: Path, text: str) -> None:
    directory = target.parent if str(target.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=".zonechain-key-", dir=directory)
    try:
        os.fchmod(handle, KEY_FILE_MODE)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_document(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            raw = stream.read(KEY_FILE_BYTES_MAX + 1)
    except OSError as error:
        raise KeyFileError(f"{path}: cannot read key file: {error.strerror}") from None
    if len(raw) > KEY_FILE_BYTES_MAX:
        raise KeyFileError(f"{path}: larger than {KEY_FILE_BYTES_MAX} bytes: not a key file")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise KeyFileError(f"{path}: not a JSON key file") from None
    if not isinstance(document, dict):
        raise KeyFileError(f"{path}: not a JSON key file (expected an object)")
    return document


def _parse_header(document: dict[str, Any], where: str) -> dict[str, Any]:
    if document.get("kind") != KEY_FILE_KIND:
        raise KeyFileError(f"{where}: not a zonechain key file (kind {document.get('kind')!r})")
    version = document.get("version")
    if version != KEY_FILE_VERSION or isinstance(version, bool):
        raise KeyFileError(f"{where}: unsupported key file version {version!r}")
    kdf = document.get("kdf")
    cipher = document.get("cipher")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise KeyFileError(f"{where}: kdf must be scrypt")
    if not isinstance(cipher, dict) or cipher.get("name") != "aes-256-gcm":
        raise KeyFileError(f"{where}: cipher must be aes-256-gcm")
    if kdf.get("r") != SCRYPT_R or kdf.get("p") != SCRYPT_P:
        raise KeyFileError(f"{where}: unsupported scrypt parameters r/p")
    _check_scrypt_n(kdf.get("n"), KeyFileError, where)
    _hex_field(kdf, "salt", where, SALT_BYTES)
    _hex_field(cipher, "nonce", where, NONCE_BYTES)
    _hex_field(document, "public_key", where, 32)
    if not isinstance(document.get("address"), str):
        raise KeyFileError(f"{where}: address missing")
    names = ("version", "kind", "address", "public_key", "kdf", "cipher")
    return {name: document[name] for name in names}


def _check_scrypt_n(
    value: object, error_class: type[Exception], where: str = "scrypt_n"
) -> None:
    valid = (isinstance(value, int) and not isinstance(value, bool)
             and SCRYPT_N_MIN <= value <= SCRYPT_N_MAX and value & (value - 1) == 0)
    if not valid:
        raise error_class(
            f"{where}: scrypt n must be a power of two in [{SCRYPT_N_MIN}, {SCRYPT_N_MAX}], "
            f"got {value!r}"
        )


def _hex_field(container: dict[str, Any], name: str, where: str, size: int) -> bytes:
    value = container.get(name)
    if not isinstance(value, str):
        raise KeyFileError(f"{where}: field {name!r} missing")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise KeyFileError(f"{where}: field {name!r} is not hex") from None
    if len(raw) != size:
        raise KeyFileError(f"{where}: field {name!r} must be {size} bytes, got {len(raw)}")
    return raw
