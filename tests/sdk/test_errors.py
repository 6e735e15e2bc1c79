"""The SDK's exception tree and the gRPC boundary: every status code classified."""

from __future__ import annotations

import inspect

import grpc
import pytest

from zonechain.node.types.receipt import Receipt, ReceiptStatus
from zonechain.sdk import errors
from zonechain.sdk.errors import (
    RPC_STATUS_ERRORS,
    AbiArgumentError,
    ConnectionFailed,
    ContractError,
    InvalidRequest,
    NodeError,
    NotFound,
    OutOfGas,
    PermissionDenied,
    Timeout,
    Unsupported,
    ZonechainError,
    abi_argument_error,
    is_transient,
    receipt_error,
    translate_rpc_error,
)


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: object, details: object = "went wrong") -> None:
        self._code = code
        self._details = details

    def code(self) -> object:  # type: ignore[override]  # may return junk
        return self._code

    def details(self) -> object:  # type: ignore[override]
        return self._details


def test_every_grpc_status_code_is_classified() -> None:
    unclassified = [code for code in list(grpc.StatusCode) if code not in RPC_STATUS_ERRORS]
    assert unclassified == [], f"classify these gRPC status codes in sdk/errors.py: {unclassified}"


@pytest.mark.parametrize("code", list(grpc.StatusCode))
def test_translation_gives_a_zonechain_error_naming_call_and_endpoint(
    code: grpc.StatusCode,
) -> None:
    error = translate_rpc_error(FakeRpcError(code, "details here"), "node-a:1", "Status")
    assert isinstance(error, RPC_STATUS_ERRORS[code])
    assert isinstance(error, ZonechainError)
    assert not isinstance(error, grpc.RpcError)
    assert "node-a:1" in str(error) and "Status" in str(error) and code.name in str(error)
    assert "details here" in str(error)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.UNAVAILABLE, ConnectionFailed),
        (grpc.StatusCode.DEADLINE_EXCEEDED, Timeout),
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidRequest),
        (grpc.StatusCode.NOT_FOUND, NotFound),
        (grpc.StatusCode.UNIMPLEMENTED, Unsupported),
        (grpc.StatusCode.INTERNAL, NodeError),
    ],
)
def test_specific_codes(code: grpc.StatusCode, expected: type[ZonechainError]) -> None:
    assert type(translate_rpc_error(FakeRpcError(code), "e", "m")) is expected


def test_only_transport_errors_are_transient() -> None:
    transient = {code for code, cls in RPC_STATUS_ERRORS.items()
                 if is_transient(translate_rpc_error(FakeRpcError(code), "e", "m"))}
    assert grpc.StatusCode.UNAVAILABLE in transient
    assert grpc.StatusCode.DEADLINE_EXCEEDED in transient
    assert grpc.StatusCode.INVALID_ARGUMENT not in transient
    assert grpc.StatusCode.INTERNAL not in transient


def test_a_broken_error_object_still_translates() -> None:
    error = translate_rpc_error(FakeRpcError("not a code", 42), "e", "m")
    assert isinstance(error, NodeError)
    assert "no status" in str(error)


def _receipt(status: ReceiptStatus, code: str = "", message: str = "") -> Receipt:
    return Receipt(b"\x01" * 32, status, 7, error_code=code, error_message=message)


def test_receipt_errors() -> None:
    assert receipt_error(_receipt(ReceiptStatus.SUCCESS)) is None
    failed = receipt_error(_receipt(ReceiptStatus.CONTRACT_ERROR, "aborted", "no funds"))
    assert isinstance(failed, ContractError)
    assert (failed.code, failed.message, failed.tx_hash) == ("aborted", "no funds", b"\x01" * 32)
    assert failed.receipt.gas_used == 7
    assert isinstance(receipt_error(_receipt(ReceiptStatus.CONTRACT_ERROR, "out_of_gas", "x")),
                      OutOfGas)
    assert isinstance(receipt_error(_receipt(ReceiptStatus.REJECTED, "zone_closed", "x")),
                      PermissionDenied)


def test_abi_argument_error_names_the_parameter() -> None:
    error = abi_argument_error(ValueError("method 'transfer' argument 'amount': expected u128"))
    assert isinstance(error, AbiArgumentError) and isinstance(error, ValueError)
    assert error.parameter == "amount"
    assert abi_argument_error(ValueError("something else")).parameter is None


def test_the_docstring_draws_every_exception_class() -> None:
    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass)
               if issubclass(obj, ZonechainError) and obj.__module__ == errors.__name__]
    doc = errors.__doc__ or ""
    missing = [cls.__name__ for cls in classes if cls.__name__ not in doc]
    assert missing == []
    assert len(classes) >= 20
