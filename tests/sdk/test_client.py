"""The sync Client against an in-process fake node (tests/sdk/fake_node.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

import zonechain.sdk.client as client_module
from tests.sdk.fake_node import (
    CHAIN_ID,
    CLOSED_ZONE,
    FakeChain,
    FakeNode,
    self_signed_certificate,
)
from zonechain.node.accounts import AccountRecord, account_key
from zonechain.node.types import ReceiptStatus
from zonechain.node.types.address import format_address
from zonechain.proto import services_pb2
from zonechain.sdk import (
    Client,
    ConnectionFailed,
    ContractError,
    InvalidRequest,
    InvalidTransaction,
    MempoolRejected,
    NodeError,
    OutOfGas,
    PermissionDenied,
    QueryFailed,
    RetryPolicy,
    Timeout,
    Unauthorized,
    VerificationFailed,
    Verifier,
    ZonechainError,
    build_deploy,
)
from zonechain.sdk.errors import RPC_STATUS_ERRORS
from zonechain.sdk.keys import Key
from zonechain.sdk.transactions import deployed_address

ALICE = Key.from_seed(b"\x0a" * 32)
BOB = Key.from_seed(b"\x0b" * 32)
NO_BACKOFF = RetryPolicy(attempts=3, backoff_initial_s=0.0)


def closed_endpoint() -> str:
    """A loopback port nothing listens on (connection refused: UNAVAILABLE)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture
def node() -> Iterator[FakeNode]:
    with FakeNode() as running:
        yield running


@pytest.fixture
def client(node: FakeNode) -> Iterator[Client]:
    with Client([node.endpoint], retry=NO_BACKOFF, timeout_s=5) as made:
        yield made


def deploy_token(client: Client, key: Key = ALICE) -> bytes:
    receipt = client.deploy(key, b"\0asm", b"\x01a\x01b\x02"[:0] + _init_args(), zone="pay")
    assert receipt.created_contract is not None
    return receipt.created_contract


def _init_args() -> bytes:
    from tests.sdk.fake_node import TOKEN_ABI_PATH
    from zonechain.contracts.abi import load_abi

    return load_abi(TOKEN_ABI_PATH).method("init").encode_args("Fake", "FK", 2)


def _amount(value: int) -> bytes:
    return value.to_bytes(16, "little")


def test_status(client: Client) -> None:
    status = client.status()
    assert status.chain_id == CHAIN_ID and status.height == 0
    assert client.chain_id == CHAIN_ID


def test_submit_and_wait_success(client: Client) -> None:
    tx = build_deploy(chain_id=CHAIN_ID, sender=ALICE, nonce=0, code=b"\0asm",
                      init_args=_init_args(), zone="pay")
    receipt = client.submit_and_wait(ALICE.sign(tx), timeout_s=5)
    assert receipt.status is ReceiptStatus.SUCCESS
    assert receipt.created_contract == deployed_address(tx)
    info = client.get_transaction(receipt.tx_hash)
    assert info is not None and not info.pending and info.height == 1
    block = client.get_block(1)
    assert block is not None and block.block.txs[0].hash == receipt.tx_hash
    assert block.commit is not None and block.commit.block_hash == block.block.hash
    assert client.get_block(99) is None
    assert client.get_receipt(b"\x00" * 32) is None
    assert client.account_nonce(ALICE.address) == 1


def test_failover_to_second_endpoint(node: FakeNode) -> None:
    with Client([closed_endpoint(), node.endpoint], retry=NO_BACKOFF) as client:
        assert client.status().chain_id == CHAIN_ID
        assert deploy_token(client)  # the chain id was remembered: no second Status
    assert node.calls("Status") == 1


def test_submit_fails_over_when_an_endpoint_is_down(node: FakeNode) -> None:
    with Client([closed_endpoint(), node.endpoint], chain_id=CHAIN_ID) as client:
        signed = ALICE.sign(build_deploy(chain_id=CHAIN_ID, sender=ALICE, nonce=0,
                                         code=b"\0asm", init_args=_init_args(), zone="z"))
        assert client.submit(signed) == signed.hash
    assert node.calls("SubmitTransaction") == 1


def test_all_endpoints_down_is_connection_failed() -> None:
    with Client([closed_endpoint(), closed_endpoint()], retry=NO_BACKOFF,
                timeout_s=2) as client, pytest.raises(ConnectionFailed):
        client.status()


def test_timeout(node: FakeNode) -> None:
    node.stall("Status")
    with Client([node.endpoint], retry=RetryPolicy(attempts=1), timeout_s=0.2) as client, \
            pytest.raises(Timeout):
        client.status()
    assert node.calls("Status") == 1


def test_submit_timeout_is_not_retried_and_carries_the_hash(node: FakeNode) -> None:
    node.stall("SubmitTransaction")
    second = FakeNode(node.chain).start()
    try:
        with Client([node.endpoint, second.endpoint], retry=NO_BACKOFF,
                    timeout_s=0.2) as client:
            signed = ALICE.sign(build_deploy(chain_id=CHAIN_ID, sender=ALICE, nonce=0,
                                             code=b"\0asm", init_args=_init_args(), zone="z"))
            with pytest.raises(Timeout) as caught:
                client.submit(signed)
        assert caught.value.tx_hash == signed.hash
        assert node.calls("SubmitTransaction") == 1
        assert second.calls("SubmitTransaction") == 0
    finally:
        second.stop()


def test_transient_error_retried_then_success(node: FakeNode, client: Client) -> None:
    node.fail("Status", grpc.StatusCode.UNAVAILABLE, times=2)
    assert client.status().chain_id == CHAIN_ID
    assert node.calls("Status") == 3


def test_transient_errors_exhaust_the_retries(node: FakeNode, client: Client) -> None:
    node.fail("Status", grpc.StatusCode.UNAVAILABLE, times=5)
    with pytest.raises(ConnectionFailed):
        client.status()
    assert node.calls("Status") == NO_BACKOFF.attempts


def test_non_transient_error_is_not_retried(node: FakeNode, client: Client) -> None:
    node.fail("Status", grpc.StatusCode.INVALID_ARGUMENT)
    with pytest.raises(InvalidRequest):
        client.status()
    assert node.calls("Status") == 1


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK])
def test_no_raw_rpc_error_reaches_the_user(node: FakeNode, code: grpc.StatusCode) -> None:
    node.fail("GetReceipt", code, times=10)
    with Client([node.endpoint], retry=RetryPolicy(attempts=1), timeout_s=5) as client, \
            pytest.raises(ZonechainError) as caught:
        client.get_receipt(b"\x01" * 32)
    assert not isinstance(caught.value, grpc.RpcError)
    assert isinstance(caught.value, RPC_STATUS_ERRORS[code])


def test_mempool_rejection_carries_reason(client: Client) -> None:
    signed = ALICE.sign(build_deploy(chain_id="other-chain", sender=ALICE, nonce=0,
                                     code=b"\0asm", zone="z"))
    with pytest.raises(MempoolRejected) as caught:
        client.submit(signed)
    assert caught.value.reason_code == "wrong_chain"
    assert "other-chain" in caught.value.message
    assert caught.value.tx_hash == signed.hash


def test_resubmitting_the_same_signed_tx_is_a_duplicate(client: Client) -> None:
    signed = ALICE.sign(build_deploy(chain_id=CHAIN_ID, sender=ALICE, nonce=0, code=b"\0asm",
                                     init_args=_init_args(), zone="z"))
    client.submit(signed)
    with pytest.raises(MempoolRejected) as caught:
        client.submit(signed)
    assert caught.value.reason_code == "duplicate"


def test_contract_error_in_receipt(client: Client) -> None:
    token = deploy_token(client)
    args = BOB.address + _amount(5)
    with pytest.raises(ContractError) as caught:
        client.call_contract(ALICE, token, "transfer", args, zone="pay")
    assert (caught.value.code, caught.value.message) == ("aborted", "insufficient balance")
    assert caught.value.receipt.status is ReceiptStatus.CONTRACT_ERROR


def test_out_of_gas_and_permission_denied(client: Client) -> None:
    token = deploy_token(client)
    with pytest.raises(OutOfGas):
        client.call_contract(ALICE, token, "mint", ALICE.address + _amount(1), zone="pay",
                             gas_limit=10)
    with pytest.raises(PermissionDenied) as caught:
        client.call_contract(ALICE, format_address(token), "mint",
                             ALICE.address + _amount(1), zone=CLOSED_ZONE)
    assert caught.value.code == "zone_closed"


def test_view_query_and_its_failure(client: Client) -> None:
    token = deploy_token(client)
    client.call_contract(ALICE, token, "mint", BOB.address + _amount(77), zone="pay")
    result = client.query(token, "balance_of", BOB.address)
    assert result.return_data == _amount(77)
    with pytest.raises(QueryFailed) as caught:
        client.query(b"\x99" * 20, "balance_of", BOB.address)
    assert caught.value.code == "contract_not_found"


def test_concurrent_nonces_from_many_threads(node: FakeNode, client: Client) -> None:
    token = deploy_token(client)
    failures: list[BaseException] = []
    start = threading.Barrier(6)

    def worker() -> None:
        start.wait()
        try:
            for _ in range(5):
                client.call_contract(ALICE, token, "mint", BOB.address + _amount(1), zone="pay",
                                     timeout_s=10)
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert client.account_nonce(ALICE.address) == 1 + 30
    assert node.chain.balance(token, BOB.address) == 30
    nonces = sorted(signed.tx.nonce for signed, _, _ in node.chain.included.values()
                    if signed.tx.sender == ALICE.public_key)
    assert nonces == list(range(31))


def test_nonce_too_low_resyncs_and_retries(node: FakeNode, client: Client) -> None:
    token = deploy_token(client)
    other_process = Client([node.endpoint])
    try:
        other_process.call_contract(ALICE, token, "mint", BOB.address + _amount(1), zone="pay")
    finally:
        other_process.close()
    # Our manager still believes the next nonce is 1; the chain is at 2.
    receipt = client.call_contract(ALICE, token, "mint", BOB.address + _amount(2), zone="pay")
    assert receipt.succeeded
    assert client.account_nonce(ALICE.address) == 3


def test_submit_many(client: Client) -> None:
    txs = [ALICE.sign(build_deploy(chain_id=CHAIN_ID, sender=ALICE, nonce=n, code=b"\0asm",
                                   init_args=_init_args(), zone="z")) for n in range(5)]
    results = client.submit_many([*txs, txs[0]])
    assert [r.accepted for r in results] == [True] * 5 + [False]
    assert results[5].error_code == "duplicate"
    error = results[5].error()
    assert isinstance(error, MempoolRejected) and error.tx_hash == txs[0].hash
    assert client.submit_many([]) == []
    assert client.wait_for_receipt(txs[4].hash, timeout_s=5).succeeded


def test_submit_many_cuts_batches_by_bytes_and_count(
        client: Client, node: FakeNode, monkeypatch: pytest.MonkeyPatch) -> None:
    txs = [ALICE.sign(build_deploy(chain_id=CHAIN_ID, sender=ALICE, nonce=n, code=b"\0asm",
                                   init_args=_init_args(), zone="z")) for n in range(7)]
    size = max(tx.to_proto().ByteSize() for tx in txs) + client_module.BATCH_ENTRY_FRAMING_BYTES
    monkeypatch.setattr(client_module, "SUBMIT_BATCH_BYTES_MAX", 2 * size)
    assert [len(chunk) for chunk, _ in client_module.submit_chunks(txs)] == [2, 2, 2, 1]
    monkeypatch.setattr(client_module, "SUBMIT_BATCH_TXS_MAX", 1)
    assert [len(chunk) for chunk, _ in client_module.submit_chunks(txs)] == [1] * 7
    monkeypatch.setattr(client_module, "SUBMIT_BATCH_BYTES_MAX", 1)  # each tx alone
    monkeypatch.setattr(client_module, "SUBMIT_BATCH_TXS_MAX", 100)
    assert [len(chunk) for chunk, _ in client_module.submit_chunks(txs)] == [1] * 7
    monkeypatch.setattr(client_module, "SUBMIT_BATCH_BYTES_MAX", 3 * size)
    before = node.calls("SubmitTransactionBatch")
    results = client.submit_many(txs)
    assert [result.tx_hash for result in results] == [tx.hash for tx in txs]
    assert all(result.accepted for result in results)
    assert node.calls("SubmitTransactionBatch") - before == 3  # 3 + 3 + 1


def test_wait_for_receipt_times_out_with_the_hash(node: FakeNode) -> None:
    node.chain.auto_commit = False
    with Client([node.endpoint], retry=NO_BACKOFF) as client:
        signed = ALICE.sign(build_deploy(chain_id=CHAIN_ID, sender=ALICE, nonce=0,
                                         code=b"\0asm", zone="z"))
        with pytest.raises(Timeout) as caught:
            client.submit_and_wait(signed, timeout_s=0.2)
        assert caught.value.tx_hash == signed.hash
        info = client.get_transaction(signed.hash)
        assert info is not None and info.pending


def test_events_and_blocks_stream(client: Client) -> None:
    token = deploy_token(client)
    client.call_contract(ALICE, token, "mint", BOB.address + _amount(3), zone="pay")
    events = list(client.stream_events(1, contract=token))
    assert [record.event.topic for record in events] == [b"mint"]
    assert [info.block.height for info in client.stream_blocks(1)] == [1, 2]


def test_stream_errors_are_translated(node: FakeNode, client: Client) -> None:
    node.fail("StreamEvents", grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(ConnectionFailed):
        list(client.stream_events(1))
    node.fail("StreamBlocks", grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(Unauthorized):
        list(client.stream_blocks(1))


def verifier_for(chain: FakeChain) -> Verifier:
    return Verifier.from_public_keys(chain.chain_id,
                                     [(key.public_key, 1) for key in chain.validator_keys])


def test_verified_state_read(node: FakeNode) -> None:
    with Client([node.endpoint], verifier=verifier_for(node.chain)) as client:
        token = deploy_token(client)
        client.call_contract(ALICE, token, "mint", BOB.address + _amount(3), zone="pay")
        value = client.read_state(account_key(ALICE.address), verify=True)
        # Two blocks: the newest provable state is after block 1 (header 2 certifies it).
        assert value.verified and value.height == 1
        assert value.value is not None and AccountRecord.decode(value.value).nonce == 1
        absent = client.read_state(account_key(BOB.address), verify=True)
        assert absent.verified and absent.value is None


def test_verification_rejects_a_lying_node(node: FakeNode) -> None:
    with Client([node.endpoint], verifier=verifier_for(node.chain)) as client:
        deploy_token(client)
        deploy_token(client)
        honest = node.servicer._state_query

        def lying(request: object, context: grpc.ServicerContext) -> object:
            response = honest(request, context)
            response.value = b"\x01" + b"\xff" * 8  # claims a huge nonce
            return response

        node.servicer._state_query = lying  # type: ignore[method-assign]
        with pytest.raises(VerificationFailed, match="proof"):
            client.read_state(account_key(ALICE.address), verify=True)


def test_verification_rejects_an_unknown_validator_set(node: FakeNode) -> None:
    strangers = Verifier.from_public_keys(CHAIN_ID, [(Key.generate().public_key, 1)])
    with Client([node.endpoint], verifier=strangers) as client:
        deploy_token(client)
        deploy_token(client)
        with pytest.raises(VerificationFailed, match="validator set"):
            client.read_state(account_key(ALICE.address), verify=True)


def test_verify_needs_a_verifier(client: Client) -> None:
    with pytest.raises(ValueError, match="verifier"):
        client.read_state(b"a", verify=True)


def test_invalid_answer_is_a_node_error(node: FakeNode, client: Client) -> None:
    def broken(request: object, context: object) -> object:
        from zonechain.proto import services_pb2

        return services_pb2.GetReceiptResponse(found=True)  # an empty receipt

    node.servicer.replace("GetReceipt", broken)
    with pytest.raises(NodeError, match="invalid answer"):
        client.get_receipt(b"\x01" * 32)


def test_endpoints_are_checked() -> None:
    with pytest.raises(ValueError):
        Client([])


def test_tls_with_a_root_certificate(tmp_path: Path) -> None:
    key_pem, certificate_pem = self_signed_certificate()
    with FakeNode(tls=(key_pem, certificate_pem)) as secure:
        with Client(secure.endpoint, tls_root_cert=certificate_pem) as client:
            assert client.status().chain_id == CHAIN_ID
        certificate_file = tmp_path / "root.pem"
        certificate_file.write_bytes(certificate_pem)
        with Client(secure.endpoint, tls_root_cert=certificate_file) as client:
            assert client.status().chain_id == CHAIN_ID
        _, stranger_pem = self_signed_certificate()
        with Client(secure.endpoint, tls_root_cert=stranger_pem, retry=RetryPolicy(attempts=1),
                    timeout_s=5) as client, pytest.raises(ConnectionFailed):
            client.status()


def test_verification_rejects_a_proof_for_another_height(node: FakeNode) -> None:
    with Client([node.endpoint], verifier=verifier_for(node.chain)) as client:
        for _ in range(3):
            deploy_token(client)
        newest = client.read_state(account_key(ALICE.address), verify=True).height
        assert newest > 1
        honest = node.servicer._state_query

        def elsewhere(request: services_pb2.QueryRequest,
                      context: grpc.ServicerContext) -> object:
            request.height = 0  # answers for its newest height, whatever was asked
            return honest(request, context)

        node.servicer._state_query = elsewhere  # type: ignore[method-assign]
        with pytest.raises(VerificationFailed, match="asked for the value at height 1"):
            client.read_state(account_key(ALICE.address), height=1, verify=True)


def test_a_transaction_that_cannot_be_built_gives_its_nonce_back(node: FakeNode) -> None:
    with Client([node.endpoint]) as client:
        token = deploy_token(client)  # nonce 0
        with pytest.raises(InvalidTransaction):
            client.call_contract(ALICE, token, "mint", b"", zone="pay", gas_limit=-1)
        with pytest.raises(InvalidTransaction):
            client.call_contract(ALICE, token, "mint", b"", zone="pay",
                                 gas_limit=1.5)  # type: ignore[arg-type]
        assert client.nonce_manager(ALICE).allocate() == 1  # no gap left behind
