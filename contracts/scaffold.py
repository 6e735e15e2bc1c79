"""`zonechain contract new`: a new contract folder that builds and tests out of the box.

``scaffold(name, parent, language)`` creates ``parent/NAME/`` holding the
source (``NAME.zig`` or ``NAME.c``), its ABI file ``NAME.abi.json`` and a
pytest file ``test_NAME.py`` that builds the contract, checks that it
exports exactly the ABI's methods, and runs it on the in-process test chain
(zonechain.sdk.testing; its ``chain``/``accounts`` fixtures come with zonechain).

Guarantees: the name is checked first (a valid method-style identifier, since
it becomes the ABI's ``contract`` field); an existing folder is never
overwritten; on any failure nothing is left half-written (files are written
to a temporary sibling folder that is renamed into place at the end).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Final

from zonechain.contracts.abi import NAME_PATTERN

ZIG_TEMPLATE: Final = """\
//! {{name}}: a counter per account, the starting point of a new contract.
//!
//! Methods (see {{name}}.abi.json): init records the deployer as owner;
//! increment(by) adds to the caller's counter and returns the new value;
//! get(who) reads a counter; reset is owner-only. The library
//! (@import("zonechain"), contracts/lib/zonechain.zig) decodes arguments,
//! encodes results, and aborts with a message on any bad input.

const zc = @import("zonechain");

const KEY_OWNER = "owner";
const counters = zc.Map.init("count:");

export fn init() void {
    zc.noArgs();
    const owner = zc.caller();
    zc.storageSetAddress(KEY_OWNER, &owner);
}

export fn increment() void {
    var args = zc.input();
    const by = args.readU64("by");
    args.finish();
    zc.require(by > 0, "by must be positive");
    const who = zc.caller();
    const next = zc.checkedAdd(u64, counters.getU64(&who), by, "counter overflow");
    counters.setU64(&who, next);

    var data = zc.Writer.init(20 + 8);
    data.address(&who);
    data.writeU64(next);
    zc.emit("incremented", data.slice());
    zc.returnU64(next);
}

export fn get() void {
    var args = zc.input();
    const who = args.address("who");
    args.finish();
    zc.returnU64(counters.getU64(&who));
}

export fn reset() void {
    var args = zc.input();
    const who = args.address("who");
    args.finish();
    const owner = zc.storageGetAddress(KEY_OWNER) orelse zc.abort("not initialized");
    zc.requireCaller(&owner, "caller is not the owner");
    counters.setU64(&who, 0);
}
"""

C_TEMPLATE: Final = """\
/* {{name}}: a counter per account, the starting point of a new contract.
 *
 * Methods (see {{name}}.abi.json): init records the deployer as owner;
 * increment(by) adds to the caller's counter and returns the new value;
 * get(who) reads a counter; reset is owner-only. zonechain.h decodes
 * arguments, encodes results, and aborts with a message on any bad input.
 */
#include "zonechain.h"

static const char KEY_OWNER[] = "owner";
static const zc_map counters = ZC_MAP("count:");

ZC_METHOD(init) {
    zc_no_args();
    zc_address owner = zc_caller();
    zc_storage_set((const uint8_t *)KEY_OWNER, sizeof KEY_OWNER - 1, owner.bytes, 20);
}

ZC_METHOD(increment) {
    zc_reader args = zc_input();
    uint64_t by = zc_read_u64(&args, "by");
    zc_finish(&args);
    zc_require(by > 0, "by must be positive");
    zc_address who = zc_caller();
    size_t key_len;
    uint8_t *key = zc_map_key(counters, who.bytes, 20, &key_len);
    uint64_t next = zc_add_u64(zc_storage_get_u64(key, key_len, NULL), by, "counter overflow");
    zc_storage_set_u64(key, key_len, next);

    zc_writer data = zc_writer_new(20 + 8);
    zc_write_address(&data, &who);
    zc_write_u64(&data, next);
    zc_emit("incremented", &data);
    zc_return_u64(next);
}

ZC_METHOD(get) {
    zc_reader args = zc_input();
    zc_address who;
    zc_read_address(&args, "who", &who);
    zc_finish(&args);
    size_t key_len;
    uint8_t *key = zc_map_key(counters, who.bytes, 20, &key_len);
    zc_return_u64(zc_storage_get_u64(key, key_len, NULL));
}

ZC_METHOD(reset) {
    zc_reader args = zc_input();
    zc_address who;
    zc_read_address(&args, "who", &who);
    zc_finish(&args);
    zc_address owner;
    int32_t size = zc_storage_read((const uint8_t *)KEY_OWNER, sizeof KEY_OWNER - 1,
                                   owner.bytes, 20);
    zc_require(size == 20, "not initialized");
    zc_require_caller(&owner, "caller is not the owner");
    zc_map_remove(counters, who.bytes, 20);
}
"""

ABI_TEMPLATE: Final = """\
{
  "abi_version": 1,
  "contract": "{{name}}",
  "methods": [
    {"name": "init", "readonly": false, "params": [], "returns": null},
    {"name": "increment", "readonly": false,
     "params": [{"name": "by", "type": "u64"}], "returns": "u64"},
    {"name": "get", "readonly": true,
     "params": [{"name": "who", "type": "address"}], "returns": "u64"},
    {"name": "reset", "readonly": false,
     "params": [{"name": "who", "type": "address"}], "returns": null}
  ],
  "events": [
    {"name": "incremented",
     "fields": [{"name": "who", "type": "address"}, {"name": "value", "type": "u64"}]}
  ]
}
"""

TEST_TEMPLATE: Final = '''\
"""Tests for the {{name}} contract: it builds reproducibly, and behaves on an in-process chain.

``chain`` (a fresh zonechain.sdk.testing.Chain) and ``accounts`` are pytest
fixtures that come with zonechain; see docs/CONTRACTS.md, "Testing contracts".
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from zonechain.contracts.toolchain import build_contract
from zonechain.sdk.testing import Accounts, Chain, ContractHandle, assert_event

HERE = Path(__file__).resolve().parent


@pytest.fixture
def contract(chain: Chain, accounts: Accounts) -> ContractHandle:
    return chain.deploy(accounts.owner, HERE)


def test_builds_and_exports_exactly_the_abi_methods(tmp_path: Path) -> None:
    result = build_contract(HERE, tmp_path)
    assert result.wasm_path is not None and result.wasm_path.read_bytes() == result.code
    module = wasmtime.Module(wasmtime.Engine(), result.code)
    exported = sorted(item.name for item in module.exports)
    assert exported == sorted(["memory", *result.abi.method_names])
    assert all(item.module == "zonechain" for item in module.imports)


def test_build_is_reproducible() -> None:
    assert build_contract(HERE).code_hash == build_contract(HERE).code_hash


def test_increment_returns_the_new_value_and_emits(contract: ContractHandle,
                                                    accounts: Accounts) -> None:
    assert contract.call(accounts.alice).increment(2).value == 2
    result = contract.call(accounts.alice).increment(3)
    assert result.value == 5
    assert_event(result, "incremented", who=accounts.alice, value=5)
    assert contract.query().get(accounts.alice) == 5
    assert contract.query().get(accounts.bob) == 0


def test_increment_by_zero_is_refused(chain: Chain, contract: ContractHandle,
                                      accounts: Accounts) -> None:
    with chain.expect_error(code="aborted", message="by must be positive"):
        contract.call(accounts.alice).increment(0)
    assert contract.query().get(accounts.alice) == 0


def test_only_the_owner_can_reset(chain: Chain, contract: ContractHandle,
                                  accounts: Accounts) -> None:
    contract.call(accounts.alice).increment(7)
    with chain.expect_error(code="aborted", message="caller is not the owner"):
        contract.call(accounts.alice).reset(accounts.alice)
    contract.call(accounts.owner).reset(accounts.alice)
    assert contract.query().get(accounts.alice) == 0
'''

SOURCE_TEMPLATES: Final = {"zig": ZIG_TEMPLATE, "c": C_TEMPLATE}
FOLDER_MODE: Final = 0o755
"""mkdtemp makes a private (0700) folder; the finished contract folder is an ordinary one."""


class ScaffoldError(ValueError):
    """A name or folder that cannot be scaffolded; the message says why."""


def scaffold(name: str, parent: Path, language: str = "zig") -> Path:
    """Create ``parent/name/`` with source, ABI and test; return the folder."""
    if not NAME_PATTERN.match(name):
        raise ScaffoldError(f"{name!r} is not a valid contract name (a lower-case letter, "
                            "then lower-case letters, digits or '_', at most 64)")
    if language not in SOURCE_TEMPLATES:
        raise ScaffoldError(f"unknown language {language!r} (zig or c)")
    target = parent / name
    if target.exists():
        raise ScaffoldError(f"{target} already exists")
    if not parent.is_dir():
        raise ScaffoldError(f"{parent} is not a folder")
    files = {
        f"{name}.{language}": SOURCE_TEMPLATES[language],
        f"{name}.abi.json": ABI_TEMPLATE,
        f"test_{name}.py": TEST_TEMPLATE,
    }
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=parent))
    try:
        for file_name, template in files.items():
            (staging / file_name).write_text(template.replace("{{name}}", name),
                                             encoding="utf-8")
        staging.chmod(FOLDER_MODE)
        staging.rename(target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ScaffoldError(f"cannot create {target}: {error.strerror}") from None
    return target
