"""Key files: round trip, wrong passphrase, tampering, permissions; keys never show secrets."""

from __future__ import annotations

import copy
import json
import pickle
import stat
from pathlib import Path

import pytest

from zonechain.node.types.address import account_address, format_address
from zonechain.sdk.errors import KeyFileError, WrongPassphrase
from zonechain.sdk.keys import SCRYPT_N_MAX, SCRYPT_N_MIN, Key, load_key, save_key

FAST_N = SCRYPT_N_MIN  # tests only: production files use SCRYPT_N_DEFAULT
SEED = bytes(range(32))


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return save_key(Key.from_seed(SEED), tmp_path / "alice.key.json", "correct horse",
                    scrypt_n=FAST_N)


def test_round_trip(key_file: Path) -> None:
    loaded = load_key(key_file, "correct horse")
    assert loaded.export_seed() == SEED
    assert loaded == Key.from_seed(SEED)


def test_address_is_the_nodes() -> None:
    key = Key.from_seed(SEED)
    assert key.address == account_address(key.public_key)
    assert key.address_text == format_address(key.address)


def test_file_is_private_and_versioned(key_file: Path) -> None:
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    document = json.loads(key_file.read_text())
    assert document["version"] == 1 and document["kind"] == "zonechain-key"
    assert SEED.hex() not in key_file.read_text()


def test_wrong_passphrase(key_file: Path) -> None:
    with pytest.raises(WrongPassphrase):
        load_key(key_file, "wrong horse")


@pytest.mark.parametrize("field", ["ciphertext", "public_key", "address", "cipher.nonce"])
def test_tampered_file_is_a_key_file_error_not_a_wrong_passphrase(
    key_file: Path, field: str
) -> None:
    document = json.loads(key_file.read_text())
    container, name = (document["cipher"], "nonce") if field == "cipher.nonce" else (
        document, field)
    value = container[name]
    if name == "address":
        other = Key.from_seed(b"\x09" * 32).address_text
        container[name] = other
    else:
        flipped = format(int(value[:2], 16) ^ 1, "02x")
        container[name] = flipped + value[2:]
    key_file.write_text(json.dumps(document))
    with pytest.raises(KeyFileError) as caught:
        load_key(key_file, "correct horse")
    assert not isinstance(caught.value, WrongPassphrase)


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[1, 2]", b'{"kind": "zonechain-key", "version": 2}',
     b'{"kind": "other"}', b"\xff\xfe"],
)
def test_garbage_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(KeyFileError):
        load_key(path, "x")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        load_key(tmp_path / "absent.json", "x")


def test_hostile_scrypt_cost_is_refused_before_deriving(key_file: Path) -> None:
    document = json.loads(key_file.read_text())
    document["kdf"]["n"] = SCRYPT_N_MAX * 2
    key_file.write_text(json.dumps(document))
    with pytest.raises(KeyFileError, match="scrypt n"):
        load_key(key_file, "correct horse")


def test_save_refuses_to_overwrite(key_file: Path) -> None:
    with pytest.raises(FileExistsError):
        save_key(Key.generate(), key_file, "p", scrypt_n=FAST_N)
    other = Key.generate()
    save_key(other, key_file, "p", overwrite=True, scrypt_n=FAST_N)
    assert load_key(key_file, "p") == other


def test_save_checks_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="passphrase"):
        save_key(Key.generate(), tmp_path / "k", "", scrypt_n=FAST_N)
    with pytest.raises(ValueError, match="scrypt n"):
        save_key(Key.generate(), tmp_path / "k", "p", scrypt_n=1000)


def test_key_never_shows_its_secret() -> None:
    key = Key.from_seed(SEED)
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert SEED.hex() not in text
        assert key.address_text in text
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        copy.copy(key)
    assert not hasattr(key, "__dict__")


def test_generated_keys_differ() -> None:
    assert Key.generate() != Key.generate()
