"""Opening refuses what it cannot trust, with a typed error and a one-line message.

Other schema versions, other chains, foreign RocksDB databases, damaged or
unreadable directories and locked databases each get their own StoreError
subclass; none leaves a traceback for the user or changes the directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rocksdict import Options, Rdict

from tests.node.test_store import CHAIN, make_commit
from zonechain.node.store import (
    SCHEMA_VERSION,
    NodeStore,
    StoreChainMismatch,
    StoreCorrupt,
    StoreError,
    StoreLocked,
    StoreNotZonechain,
    StoreVersionError,
)
from zonechain.node.store.layout import (
    CF_BLOCKS,
    CF_META,
    CF_STATE,
    COLUMN_FAMILIES,
    META_SCHEMA_VERSION,
    encode_height,
)

ROOT = Path(__file__).resolve().parents[2]


def raw_put(path: Path, family: str, key: bytes, value: bytes | None) -> None:
    """Change one record behind the store's back (simulating damage or another version)."""
    options = Options(raw_mode=True)
    database = Rdict(str(path), options=options,
                     column_families={name: Options(raw_mode=True) for name in COLUMN_FAMILIES})
    column = database.get_column_family(family)
    if value is None:
        column.delete(key)
    else:
        column.put(key, value)
    del column
    database.close()


def make_store(path: Path, blocks: int = 2) -> None:
    with NodeStore(path, chain_id=CHAIN) as store:
        for height in range(blocks):
            store.commit_block(make_commit(height))


def assert_clean(error: StoreError, path: Path) -> None:
    text = str(error)
    assert "\n" not in text
    assert "Traceback" not in text
    assert str(path) in text


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    make_store(tmp_path)
    raw_put(tmp_path, CF_META, META_SCHEMA_VERSION, (SCHEMA_VERSION + 1).to_bytes(4, "big"))
    with pytest.raises(StoreVersionError) as caught:
        NodeStore(tmp_path, chain_id=CHAIN)
    assert f"schema version {SCHEMA_VERSION + 1} is newer" in str(caught.value)
    assert_clean(caught.value, tmp_path)


def test_older_schema_version_is_refused(tmp_path: Path) -> None:
    make_store(tmp_path)
    raw_put(tmp_path, CF_META, META_SCHEMA_VERSION, (0).to_bytes(4, "big"))
    with pytest.raises(StoreVersionError, match="is older"):
        NodeStore(tmp_path, chain_id=CHAIN)


def test_other_chain_id_is_refused_and_the_store_still_opens_for_its_own(tmp_path: Path) -> None:
    make_store(tmp_path)
    with pytest.raises(StoreChainMismatch) as caught:
        NodeStore(tmp_path, chain_id="another-chain")
    assert f"holds chain '{CHAIN}', not 'another-chain'" in str(caught.value)
    assert_clean(caught.value, tmp_path)
    with NodeStore(tmp_path, chain_id=CHAIN) as store:  # the failed open released the lock
        assert store.latest_height() == 1


def test_foreign_rocksdb_is_refused_and_left_untouched(tmp_path: Path) -> None:
    database = Rdict(str(tmp_path), options=Options(raw_mode=True))
    database.put(b"their key", b"their value")
    database.close()
    with pytest.raises(StoreNotZonechain) as caught:
        NodeStore(tmp_path, chain_id=CHAIN)
    assert isinstance(caught.value, StoreCorrupt)
    assert "without zonechain metadata" in str(caught.value)
    assert_clean(caught.value, tmp_path)
    assert Rdict.list_cf(str(tmp_path), Options(raw_mode=True)) == ["default"]


def test_directory_of_other_files_is_not_rocksdb(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StoreCorrupt, match="not a RocksDB directory") as caught:
        NodeStore(tmp_path, chain_id=CHAIN)
    assert_clean(caught.value, tmp_path)


def test_a_file_is_not_a_store(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"x")
    with pytest.raises(StoreCorrupt, match="not a directory"):
        NodeStore(target, chain_id=CHAIN)


def test_damaged_current_file_is_corrupt(tmp_path: Path) -> None:
    make_store(tmp_path)
    (tmp_path / "CURRENT").write_bytes(b"garbage\n")
    with pytest.raises(StoreCorrupt, match="damaged") as caught:
        NodeStore(tmp_path, chain_id=CHAIN)
    assert_clean(caught.value, tmp_path)


def test_damaged_manifest_is_corrupt(tmp_path: Path) -> None:
    make_store(tmp_path)
    for manifest in tmp_path.glob("MANIFEST-*"):
        manifest.write_bytes(b"\x00\x01not a manifest" * 3)
    with pytest.raises(StoreCorrupt):
        NodeStore(tmp_path, chain_id=CHAIN)


def test_meta_pointing_at_a_missing_block_is_corrupt(tmp_path: Path) -> None:
    make_store(tmp_path)
    raw_put(tmp_path, CF_BLOCKS, encode_height(1), None)
    with pytest.raises(StoreCorrupt, match="names height 1"):
        NodeStore(tmp_path, chain_id=CHAIN)


def test_missing_metadata_with_data_present_is_corrupt(tmp_path: Path) -> None:
    make_store(tmp_path)
    raw_put(tmp_path, CF_META, META_SCHEMA_VERSION, None)
    with pytest.raises(StoreCorrupt, match="metadata missing but"):
        NodeStore(tmp_path, chain_id=CHAIN)


def test_metadata_never_written_is_initialised_again(tmp_path: Path) -> None:
    """What a crash between creating the column families and writing meta leaves."""
    database = Rdict(str(tmp_path), options=Options(raw_mode=True))
    database.create_column_family(CF_META, Options(raw_mode=True))
    database.create_column_family(CF_STATE, Options(raw_mode=True))
    database.close()
    with NodeStore(tmp_path, chain_id=CHAIN) as store:
        assert store.latest_height() is None
        store.commit_block(make_commit(0))
    with NodeStore(tmp_path, chain_id=CHAIN) as reopened:
        assert reopened.latest_height() == 0


def test_second_handle_in_one_process_is_locked(tmp_path: Path) -> None:
    with NodeStore(tmp_path, chain_id=CHAIN):
        with pytest.raises(StoreLocked) as caught:
            NodeStore(tmp_path, chain_id=CHAIN)
        assert_clean(caught.value, tmp_path)


HOLDER = (
    "import sys\n"
    "from zonechain.node.store import NodeStore\n"
    "store = NodeStore(sys.argv[1], chain_id=sys.argv[2])\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
    "store.close()\n"
)


@pytest.mark.slow
def test_store_held_by_another_process_is_locked_until_it_exits(tmp_path: Path) -> None:
    make_store(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path), CHAIN], cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLocked, match="in use by another process") as caught:
            NodeStore(tmp_path, chain_id=CHAIN)
        assert_clean(caught.value, tmp_path)
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=60)
        if holder.stdout is not None:
            holder.stdout.close()
    with NodeStore(tmp_path, chain_id=CHAIN) as store:
        assert store.latest_height() == 1


PRINTER = (
    "import sys\n"
    "from zonechain.node.store import NodeStore, StoreError\n"
    "try:\n"
    "    NodeStore(sys.argv[1], chain_id='another-chain')\n"
    "except StoreError as error:\n"
    "    print(f'{type(error).__name__}: {error}', file=sys.stderr)\n"
    "    sys.exit(2)\n"
)


@pytest.mark.slow
def test_errors_print_as_one_line_in_a_fresh_process(tmp_path: Path) -> None:
    make_store(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", PRINTER, str(tmp_path)], cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("StoreChainMismatch: ")
