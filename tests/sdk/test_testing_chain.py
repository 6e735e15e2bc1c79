"""The contract test harness (zonechain.sdk.testing): accounts, deploys, calls, blocks, history.

Runs the real token and probe contracts (built once per process) through the
real VM; every feature the harness promises is checked against the chain's own
rules (addresses, nonces, contexts) or against state read back.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from zonechain.contracts.abi import AbiError, decode_single
from zonechain.contracts.toolchain import build_contract
from zonechain.node.accounts import account_key
from zonechain.node.types.address import account_address, contract_address
from zonechain.node.types.limits import CALL_ARGS_BYTES_MAX
from zonechain.sdk.testing import (
    BLOCK_INTERVAL_MS,
    GENESIS_TIME_MS,
    Account,
    Chain,
    ContractFailed,
    ContractHandle,
    ContractSource,
    ContractSourceError,
    HarnessError,
    InvalidTransaction,
    load_contract,
)
from zonechain.vm.encoding import Reader
from zonechain.vm.state import PREFIX_ACCOUNT

REPOSITORY = Path(__file__).resolve().parents[2]
TOKEN_DIR = REPOSITORY / "contracts" / "zones" / "token"
PROBE_DIR = REPOSITORY / "tests" / "contracts" / "probe"



@pytest.fixture
def chain() -> Chain:
    """A fresh chain (the plugin gives the same; defined here so no conftest can shadow it)."""
    return Chain()


@pytest.fixture
def alice(chain: Chain) -> Account:
    return chain.account("alice")


@pytest.fixture
def bob(chain: Chain) -> Account:
    return chain.account("bob")


@pytest.fixture
def token(chain: Chain, alice: Account) -> ContractHandle:
    return chain.deploy(alice, TOKEN_DIR, "Euro Deposit", "EURD", 2)


@pytest.fixture
def probe(chain: Chain, alice: Account) -> ContractHandle:
    return chain.deploy(alice, PROBE_DIR)


def contract_state(chain: Chain) -> dict[bytes, bytes]:
    """Everything but account records (nonces): what contracts can change."""
    return {key: value for key, value in chain.items().items()
            if not key.startswith(PREFIX_ACCOUNT)}


def decode_context(data: bytes) -> dict[str, object]:
    """The probe's ``context`` result (see probe.zig)."""
    reader = Reader(data)
    out = {"caller": reader.fixed(20, "caller"), "origin": reader.fixed(20, "origin"),
           "contract": reader.fixed(20, "self"), "zone": reader.string("zone"),
           "height": reader.i64("height"), "time_ms": reader.i64("time"),
           "tx_hash": reader.fixed(32, "tx")}
    reader.finish("context")
    return out


# --- accounts and addresses --------------------------------------------------------------


def test_accounts_are_derived_from_their_names_and_have_chain_addresses() -> None:
    first, second = Chain(), Chain(chain_id="other")
    alice = first.account("alice")
    assert alice is first.account("alice")
    assert alice == second.account("alice") and alice != first.account("bob")
    assert alice.key.seed == hashlib.sha256(b"zonechain/testing/account-seed/v1alice").digest()
    assert alice.address == account_address(alice.public_key) == bytes(alice)
    assert alice.name == "alice" and "alice" in repr(alice)
    with pytest.raises(HarnessError):
        first.account("")


def test_contract_addresses_follow_deployer_and_nonce(chain: Chain, alice: Account,
                                                      bob: Account) -> None:
    assert chain.nonce(alice) == 0
    first = chain.deploy(alice, PROBE_DIR)
    second = chain.deploy(alice, PROBE_DIR)
    third = chain.deploy(bob, PROBE_DIR)
    assert first.address == contract_address(alice.address, 0)
    assert second.address == contract_address(alice.address, 1)
    assert third.address == contract_address(bob.address, 0)
    assert chain.nonce(alice) == 2 and chain.nonce(bob) == 1
    assert chain.contracts == (first, second, third)
    assert chain.contract(second.address) is second


def test_every_transaction_consumes_a_nonce_and_queries_do_not(
    chain: Chain, token: ContractHandle, alice: Account, bob: Account
) -> None:
    token.call(alice).mint(bob, 5)
    with chain.expect_error(code="aborted"):
        token.call(bob).transfer(alice, 6)
    token.query().balance_of(bob)
    assert chain.nonce(alice) == 2 and chain.nonce(bob) == 1
    assert [result.nonce for result in chain.results] == [0, 1, 0]
    assert chain.get(account_key(alice.address)) is not None


# --- deploy sources ---------------------------------------------------------------------


def test_deploy_accepts_every_source_form(chain: Chain, alice: Account,
                                          tmp_path: Path) -> None:
    built = build_contract(TOKEN_DIR, tmp_path)
    assert built.wasm_path is not None and built.abi_out_path is not None
    sources: list[ContractSource] = [
        TOKEN_DIR, TOKEN_DIR / "token.zig", built.wasm_path, built, (built.code, built.abi),
        (built.code, built.abi_out_path)]
    for index, source in enumerate(sources):
        handle = chain.deploy(alice, source, "Euro", "EUR", index)
        assert handle.name == "token"
        assert handle.query().decimals() == index
    assert len({handle.address for handle in chain.contracts}) == len(sources)


def test_a_contract_folder_is_built_once_per_process() -> None:
    assert load_contract(TOKEN_DIR) is load_contract(str(TOKEN_DIR))
    assert load_contract(TOKEN_DIR).code == build_contract(TOKEN_DIR).code


@pytest.mark.parametrize("source", ["no/such/contract", "missing.wasm", 42])
def test_bad_sources_raise_contract_source_error(chain: Chain, alice: Account, tmp_path: Path,
                                                 source: object) -> None:
    if source == "missing.wasm":
        (tmp_path / "lonely.wasm").write_bytes(b"\0asm")
        source = tmp_path / "lonely.wasm"  # no lonely.abi.json beside it
    with pytest.raises(ContractSourceError):
        chain.deploy(alice, source)  # type: ignore[arg-type]
    assert chain.nonce(alice) == 0


def test_a_failed_deploy_leaves_no_contract_but_uses_the_nonce(chain: Chain,
                                                               alice: Account) -> None:
    with chain.expect_error(code="aborted", message="symbol must be 1 to 16 bytes") as failed:
        chain.deploy(alice, TOKEN_DIR, "Euro", "", 2)
    assert failed.error is not None and failed.error.gas_used > 0
    assert failed.error.receipt.created is None
    assert contract_state(chain) == {}
    assert chain.contracts == ()
    assert chain.nonce(alice) == 1


def test_the_deploy_receipt_is_kept_on_the_handle(chain: Chain, token: ContractHandle,
                                                  alice: Account) -> None:
    deployment = token.deployment
    assert deployment is not None and deployment is chain.results[0]
    assert deployment.ok and deployment.method == "deploy" and deployment.created == token.address
    assert 0 < deployment.gas_used < deployment.gas_limit
    assert deployment.sender is alice and deployment.nonce == 0


def test_events_without_a_known_abi_stay_raw(chain: Chain, alice: Account) -> None:
    artifact = load_contract(TOKEN_DIR)
    init = artifact.abi.method("init").encode_args("E", "E", 0)
    address = chain.deploy_raw(alice, artifact.code, init).created
    assert address is not None
    mint = artifact.abi.method("mint").encode_args(alice, 9)
    (event,) = chain.call(alice, address, "mint", mint).events
    assert (event.name, event.fields, event.decoded) == ("mint", {}, False)
    assert artifact.abi.event("mint").decode(event.data) == {"to": alice.address, "amount": 9}
    assert "undecoded" in repr(event)


def test_deploy_raw_reports_without_raising(chain: Chain, alice: Account) -> None:
    artifact = load_contract(TOKEN_DIR)
    failed = chain.deploy_raw(alice, artifact.code, b"\x00", abi=artifact.abi)
    assert not failed.ok and failed.error_code == "aborted" and failed.created is None
    done = chain.deploy_raw(alice, artifact.code,
                            artifact.abi.method("init").encode_args("E", "E", 0))
    assert done.ok and done.created == contract_address(alice.address, 1)
    with pytest.raises(HarnessError):
        chain.contract(bytes(20))
    handle = chain.contract(done.created, abi=artifact.abi)
    assert handle.query().symbol() == "E"


# --- calls and queries --------------------------------------------------------------------


def test_typed_calls_and_queries_decode_through_the_abi(
    chain: Chain, token: ContractHandle, alice: Account, bob: Account
) -> None:
    assert token.query().issuer() is alice  # known accounts come back as themselves
    result = token.call(alice).mint(bob, 1_000)
    assert result.ok and result.value is None and result.method == "mint"
    assert 0 < result.gas_used < result.gas_limit
    assert token.query().balance_of(bob) == 1_000
    assert token.query().balance_of(owner=alice) == 0


def test_call_results_carry_decoded_return_values(chain: Chain, probe: ContractHandle,
                                                  alice: Account) -> None:
    assert probe.call(alice).next_id().value == 1
    assert probe.call(alice).next_id().value == 2
    assert probe.query().echo_optional_address(alice) is alice
    assert probe.query().echo_list_u16([1, 2, 65535]) == [1, 2, 65535]


def test_contract_failed_carries_the_receipt(chain: Chain, token: ContractHandle,
                                             alice: Account, bob: Account) -> None:
    token.call(alice).mint(bob, 10)
    before = contract_state(chain)
    with pytest.raises(ContractFailed) as caught:
        token.call(bob).transfer(alice, 11)
    failure = caught.value
    assert (failure.code, failure.message) == ("aborted", "insufficient balance")
    assert failure.gas_used == failure.receipt.gas_used > 0
    assert not failure.receipt.ok and failure.receipt.events == ()
    assert failure.receipt.writes == {}
    assert "insufficient balance" in str(failure)
    assert contract_state(chain) == before
    assert chain.events() == []


def test_check_false_returns_the_failed_receipt(token: ContractHandle, bob: Account) -> None:
    result = token.call(bob, check=False).mint(bob, 1)
    assert not result.ok and result.error_message == "caller is not the issuer"


def test_out_of_gas_uses_the_whole_limit(chain: Chain, token: ContractHandle,
                                         alice: Account) -> None:
    with chain.expect_error(code="out_of_gas") as failed:
        token.call(alice, gas_limit=500).mint(alice, 1)
    assert failed.error is not None and failed.error.gas_used == 500
    assert token.query().total_supply() == 0


def test_values_that_do_not_fit_the_abi_fail_before_sending(
    chain: Chain, token: ContractHandle, alice: Account, bob: Account
) -> None:
    with pytest.raises(AbiError, match="amount"):
        token.call(alice).mint(bob, -1)
    with pytest.raises(AbiError):
        token.call(alice).mint(bob)
    with pytest.raises(AttributeError, match="no method 'mintt'"):
        token.call(alice).mintt(bob, 1)
    assert chain.nonce(alice) == 1 and len(chain.results) == 1


def test_bad_transactions_raise_harness_errors(chain: Chain, token: ContractHandle,
                                               alice: Account) -> None:
    with pytest.raises(InvalidTransaction):
        chain.call(alice, token, "mint", b"\0" * (CALL_ARGS_BYTES_MAX + 1))
    with pytest.raises(InvalidTransaction):
        token.call(alice, gas_limit=-1).mint(alice, 1)
    with pytest.raises(HarnessError, match="Account"):
        token.call(alice.address).mint(alice, 1)  # type: ignore[arg-type]
    with pytest.raises(HarnessError):
        Chain(chain_id="bad id")
    with pytest.raises(HarnessError):
        Chain(zone="")


def test_low_level_call_and_query_take_raw_bytes(chain: Chain, token: ContractHandle,
                                                 alice: Account, bob: Account) -> None:
    data = token.abi.method("mint").encode_args(bob, 7) if token.abi else b""
    assert chain.call(alice, token.address, "mint", data).ok
    answer = chain.query(token, "balance_of", bob.address)
    assert answer.ok and answer.value == 7 and answer.tx_hash == bytes(32)
    refused = chain.query(token, "mint", data, sender=alice)
    assert not refused.ok and refused.error_code == "read_only"


def test_contracts_see_the_transaction_context(chain: Chain, probe: ContractHandle,
                                               alice: Account) -> None:
    result = probe.call(alice).context()
    seen = decode_context(result.value)
    assert seen == {"caller": alice.address, "origin": alice.address,
                    "contract": probe.address, "zone": "default", "height": 1,
                    "time_ms": GENESIS_TIME_MS, "tx_hash": result.tx_hash}
    assert decode_context(probe.query(alice).context())["caller"] == alice.address
    assert decode_context(probe.query().context())["caller"] == bytes(20)


def test_deploy_zone_is_the_zone_contracts_see(alice: Account) -> None:
    chain = Chain(zone="trade-finance")
    probe = chain.deploy(alice, PROBE_DIR)
    elsewhere = chain.deploy(alice, PROBE_DIR, zone="payments")
    assert decode_context(probe.query().context())["zone"] == "trade-finance"
    assert decode_context(elsewhere.call(alice).context().value)["zone"] == "payments"


# --- blocks ---------------------------------------------------------------------------------


def test_advance_changes_the_height_and_time_contracts_see(chain: Chain,
                                                           probe: ContractHandle) -> None:
    chain.advance()
    assert (chain.height, chain.time_ms) == (2, GENESIS_TIME_MS + BLOCK_INTERVAL_MS)
    block = chain.advance(blocks=10, ms=86_400_000)
    assert (block.height, block.time_ms) == (12, GENESIS_TIME_MS + BLOCK_INTERVAL_MS
                                             + 86_400_000)
    seen = decode_context(probe.query().context())
    assert (seen["height"], seen["time_ms"]) == (block.height, block.time_ms)
    for blocks, ms in [(0, None), (-1, None), (1, -5)]:
        with pytest.raises(HarnessError):
            chain.advance(blocks, ms)
    assert chain.height == 12


def test_transactions_run_in_the_current_block(chain: Chain, probe: ContractHandle,
                                               alice: Account) -> None:
    first, second = probe.call(alice).next_id(), probe.call(alice).next_id()
    assert first.block_height == second.block_height == 1
    assert first.tx_hash != second.tx_hash
    chain.advance(3)
    assert probe.call(alice).next_id().block_height == 4


# --- events -----------------------------------------------------------------------------------


def test_events_are_decoded_and_kept_in_history(chain: Chain, token: ContractHandle,
                                                alice: Account, bob: Account) -> None:
    minted = token.call(alice).mint(alice, 100)
    moved = token.call(alice).transfer(bob, 40)
    assert moved.event_items() == [("transfer", {"from": alice, "to": bob, "amount": 40})]
    (event,) = chain.events()
    assert event.name == "transfer" and event.contract == token.address and event.decoded
    assert event.tx_hash == moved.tx_hash and event.block_height == 1
    assert chain.events(name="mint") == []
    assert chain.events(name="mint", history=True) == list(minted.events)
    assert [e.name for e in chain.events(token, history=True)] == ["mint", "transfer"]
    assert token.events() == [event]
    assert chain.assert_event("transfer", {"from": alice}, amount=40) is event


def test_events_of_nested_calls_are_decoded_with_the_callee_abi(
    chain: Chain, token: ContractHandle, probe: ContractHandle, alice: Account, bob: Account
) -> None:
    assert token.abi is not None
    args = token.abi.method("approve").encode_args(bob, 5)
    result = probe.call(alice).call_other(token, "approve", args)
    (event,) = result.events
    assert event.contract == token.address and event.decoded
    assert event.fields == {"owner": probe.address, "spender": bob, "amount": 5}
    assert token.query().allowance(probe, bob) == 5


# --- state, snapshots ----------------------------------------------------------------------------


def test_storage_lists_a_contract_s_own_keys_in_order(chain: Chain, probe: ContractHandle,
                                                      alice: Account) -> None:
    for key in [b"k:b", b"k:a", b"other", b"k:c"]:
        probe.call(alice).store(key, 1)
    assert probe.query().keys(b"k:") == [b"k:a", b"k:b", b"k:c"]
    stored = probe.storage()
    assert {b"k:a", b"k:b", b"k:c", b"other"} <= set(stored)
    assert decode_single("u128", stored[b"k:a"]) == 1


def test_snapshot_and_revert_restore_everything_exactly(
    chain: Chain, token: ContractHandle, alice: Account, bob: Account
) -> None:
    token.call(alice).mint(alice, 100)
    snap = chain.snapshot()
    saved = (chain.items(), chain.height, chain.time_ms, chain.results, chain.contracts)
    token.call(alice).transfer(bob, 60)
    chain.advance(5)
    later = chain.deploy(bob, TOKEN_DIR, "Later", "LTR", 0)
    for _ in range(2):
        chain.revert(snap)
        assert (chain.items(), chain.height, chain.time_ms, chain.results,
                chain.contracts) == saved
        assert token.query().balance_of(bob) == 0 and chain.nonce(bob) == 0
        assert chain.events()[0].name == "mint"
        with chain.expect_error(code="contract_not_found"):
            later.query().symbol()
        token.call(alice).transfer(bob, 1)
    with pytest.raises(HarnessError):
        Chain().revert(snap)
