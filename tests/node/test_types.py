"""Every protocol type round-trips through canonical bytes and protobuf; every
decoder refuses bad input with a typed error only; constructors enforce the rules."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import pytest
from google.protobuf.message import DecodeError as ProtobufDecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.node.test_types_strategies import (
    ALL_TYPES,
    BLOCKS,
    HEADERS,
    SIGNED_TRANSACTIONS,
    TRANSACTIONS,
    VOTES,
    commits,
    evidence,
    receipts,
)
from zonechain.node.types import (
    Block,
    BlockHeader,
    CallPayload,
    Commit,
    CommitSignature,
    DecodeError,
    DeployPayload,
    DuplicateVoteEvidence,
    Event,
    MalformedMessage,
    MessageTooLarge,
    Proposal,
    Receipt,
    ReceiptStatus,
    SignedTransaction,
    Transaction,
    Vote,
    VoteType,
    limits,
)
from zonechain.proto import types_pb2

TYPES: dict[str, Any] = {
    "Transaction": Transaction,
    "SignedTransaction": SignedTransaction,
    "Vote": Vote,
    "Proposal": Proposal,
    "Commit": Commit,
    "DuplicateVoteEvidence": DuplicateVoteEvidence,
    "Event": Event,
    "Receipt": Receipt,
    "BlockHeader": BlockHeader,
    "Block": Block,
}
PROTO_OF: dict[str, Any] = {
    "Transaction": types_pb2.Transaction,
    "SignedTransaction": types_pb2.SignedTransaction,
    "Vote": types_pb2.Vote,
    "Proposal": types_pb2.Proposal,
    "Commit": types_pb2.CommitCertificate,
    "DuplicateVoteEvidence": types_pb2.Evidence,
    "Event": types_pb2.Event,
    "Receipt": types_pb2.Receipt,
    "BlockHeader": types_pb2.BlockHeader,
    "Block": types_pb2.Block,
}
NAMES = sorted(TYPES)


def fresh_encode(value: Any) -> bytes:
    """Encode without any cached bytes (decode caches its input for SignedTransaction)."""
    if isinstance(value, SignedTransaction):
        return SignedTransaction(dataclasses.replace(value.tx), value.signature).encode()
    encoded: bytes = value.encode()
    return encoded


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40)
@given(data=st.data())
def test_canonical_round_trip(name: str, data: st.DataObject) -> None:
    value = data.draw(ALL_TYPES[name])
    encoded = value.encode()
    decoded = TYPES[name].decode(encoded)
    assert decoded == value
    assert fresh_encode(decoded) == encoded
    if name != "Transaction":  # an unsigned tx has no id; SignedTransaction.hash is the id
        assert decoded.hash == value.hash


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40)
@given(data=st.data())
def test_protobuf_round_trip(name: str, data: st.DataObject) -> None:
    value = data.draw(ALL_TYPES[name])
    wire = value.to_proto().SerializeToString()
    message = PROTO_OF[name]()
    message.ParseFromString(wire)
    assert TYPES[name].from_proto(message) == value


def mutate(encoded: bytes, data: st.DataObject) -> bytes:
    """Flip, drop, insert or truncate bytes of a valid encoding."""
    buffer = bytearray(encoded)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "drop", "insert", "truncate"]), label="kind")
        position = data.draw(st.integers(0, max(len(buffer) - 1, 0)), label="position")
        if kind == "flip" and buffer:
            buffer[position] ^= data.draw(st.integers(1, 255), label="xor")
        elif kind == "drop" and buffer:
            del buffer[position]
        elif kind == "insert":
            buffer.insert(position, data.draw(st.integers(0, 255), label="byte"))
        else:
            del buffer[position:]
    return bytes(buffer)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60)
@given(data=st.data())
def test_mutated_bytes_raise_only_decode_error_or_decode_canonically(
    name: str, data: st.DataObject
) -> None:
    mutated = mutate(data.draw(ALL_TYPES[name]).encode(), data)
    try:
        decoded = TYPES[name].decode(mutated)
    except DecodeError:
        return
    # Whatever decodes re-encodes to exactly the same bytes: one encoding per value.
    assert fresh_encode(decoded) == mutated


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40)
@given(raw=st.binary(max_size=300))
def test_random_bytes_raise_only_decode_error(name: str, raw: bytes) -> None:
    try:
        decoded = TYPES[name].decode(raw)
    except DecodeError:
        return
    assert fresh_encode(decoded) == raw


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40)
@given(raw=st.binary(max_size=300))
def test_random_protobuf_raises_only_malformed_message(name: str, raw: bytes) -> None:
    message = PROTO_OF[name]()
    try:
        message.ParseFromString(raw)
    except ProtobufDecodeError:
        return  # the transport layer's refusal, before our types are involved
    with contextlib.suppress(MalformedMessage):
        TYPES[name].from_proto(message)


@settings(max_examples=60)
@given(
    vote_type=st.integers(0, 4), chain_id=st.text(max_size=70),
    height=st.integers(0, 2**64 - 1), round_=st.integers(0, 2**32 - 1),
    block_hash=st.none() | st.binary(max_size=34), validator=st.binary(max_size=22),
    signature=st.binary(max_size=66),
)
def test_arbitrary_vote_fields_in_protobuf_raise_malformed_message(
    vote_type: int, chain_id: str, height: int, round_: int, block_hash: bytes | None,
    validator: bytes, signature: bytes,
) -> None:
    message = types_pb2.Vote(
        chain_id=chain_id, height=height, round=round_, validator=validator,
        signature=signature,
    )
    message.type = vote_type  # type: ignore[assignment]
    if block_hash is not None:
        message.block_hash = block_hash
    try:
        vote = Vote.from_proto(message)
    except MalformedMessage as error:
        assert error.field.startswith("vote.")
        return
    assert len(vote.validator) == 20
    assert len(vote.signature) == 64


@settings(max_examples=60)
@given(
    sender=st.binary(max_size=34), chain_id=st.text(max_size=70), zone=st.text(max_size=70),
    method=st.text(max_size=70), contract=st.binary(max_size=22), which=st.integers(0, 3),
)
def test_arbitrary_transaction_fields_in_protobuf_raise_malformed_message(
    sender: bytes, chain_id: str, zone: str, method: str, contract: bytes, which: int
) -> None:
    message = types_pb2.Transaction(chain_id=chain_id, sender=sender, zone=zone)
    if which == 1:
        message.call.contract = contract
        message.call.method = method
    elif which == 2:
        message.deploy.code = contract
    elif which == 3:
        message.governance.body = contract
    try:
        Transaction.from_proto(message)
    except MalformedMessage as error:
        assert error.field.startswith("tx.")


def test_proto_errors_name_the_nested_field(sample_block: Block) -> None:
    message = sample_block.to_proto()
    message.txs[0].tx.sender = b"short"
    with pytest.raises(MalformedMessage) as caught:
        Block.from_proto(message)
    assert caught.value.field == "block.txs[0].signed_tx.tx.sender"


def test_missing_payload_and_header_are_malformed() -> None:
    with pytest.raises(MalformedMessage, match="payload"):
        Transaction.from_proto(types_pb2.Transaction(chain_id="c", sender=bytes(32), zone="z"))
    with pytest.raises(MalformedMessage, match="header"):
        Block.from_proto(types_pb2.Block())
    with pytest.raises(MalformedMessage, match="tx"):
        SignedTransaction.from_proto(types_pb2.SignedTransaction(signature=bytes(64)))
    with pytest.raises(MalformedMessage, match="kind"):
        DuplicateVoteEvidence.from_proto(types_pb2.Evidence())


def test_decode_errors_name_the_field() -> None:
    tx = Transaction("chain", bytes(32), 1, 2, "zone", CallPayload(bytes(20), "go"))
    encoded = bytearray(tx.encode())
    encoded[4 + 5 + 32 + 16 + 4 + 4 + 1] = 9  # the payload tag
    with pytest.raises(DecodeError, match=r"tx\.payload"):
        Transaction.decode(bytes(encoded))
    with pytest.raises(DecodeError, match="trailing"):
        Transaction.decode(tx.encode() + b"\x00")
    bad_method = tx.encode().replace(b"go", b"Go")
    with pytest.raises(DecodeError, match=r"tx\.call\.method"):
        Transaction.decode(bad_method)


@pytest.fixture
def sample_block() -> Block:
    tx = SignedTransaction(
        Transaction("chain", bytes(32), 1, 2, "zone", CallPayload(bytes(20), "go")), bytes(64)
    )
    header = BlockHeader("chain", 1, 0, *(bytes(32),) * 7, bytes(20))
    return Block(header, (tx,), None)


# --- size limits -------------------------------------------------------------------


def test_oversized_bytes_are_refused_before_parsing() -> None:
    with pytest.raises(MessageTooLarge) as caught:
        SignedTransaction.decode(bytes(limits.TX_BYTES_MAX + 1))
    assert caught.value.limit == limits.TX_BYTES_MAX
    assert isinstance(caught.value, DecodeError)
    with pytest.raises(MessageTooLarge):
        Block.decode(bytes(limits.BLOCK_BYTES_MAX + 1))
    with pytest.raises(MessageTooLarge):
        Vote.decode(bytes(limits.CONSENSUS_MESSAGE_BYTES_MAX + 1))
    with pytest.raises(MessageTooLarge):
        Receipt.decode(bytes(limits.RECEIPT_BYTES_MAX + 1))


def test_oversized_protobuf_is_refused() -> None:
    message = types_pb2.SignedTransaction(signature=bytes(64))
    message.tx.deploy.code = bytes(limits.TX_BYTES_MAX)
    with pytest.raises(MessageTooLarge):
        SignedTransaction.from_proto(message)
    block = types_pb2.Block()
    for _ in range(limits.BLOCK_BYTES_MAX // limits.TX_BYTES_MAX + 1):
        block.txs.add().CopyFrom(message)
    with pytest.raises(MessageTooLarge):
        Block.from_proto(block)


def test_oversized_fields_are_refused() -> None:
    with pytest.raises(MalformedMessage, match=r"deploy\.code"):
        DeployPayload(bytes(limits.DEPLOY_CODE_BYTES_MAX + 1))
    with pytest.raises(MalformedMessage, match=r"call\.args"):
        CallPayload(bytes(20), "go", bytes(limits.CALL_ARGS_BYTES_MAX + 1))
    with pytest.raises(MalformedMessage, match=r"tx\.zone"):
        Transaction("c", bytes(32), 0, 0, "z" * 65, CallPayload(bytes(20), "go"))
    with pytest.raises(MalformedMessage, match=r"event\.data"):
        Event(bytes(20), b"", bytes(limits.EVENT_DATA_BYTES_MAX + 1))


def test_a_maximal_deploy_fits_the_transaction_limit() -> None:
    tx = Transaction(
        "c" * 64, bytes(32), 2**64 - 1, 2**64 - 1, "z" * 64,
        DeployPayload(bytes(limits.DEPLOY_CODE_BYTES_MAX), bytes(limits.CALL_ARGS_BYTES_MAX)),
        2**64 - 1,
    )
    signed = SignedTransaction(tx, bytes(64))
    assert len(signed.encode()) <= limits.TX_BYTES_MAX
    assert SignedTransaction.decode(signed.encode()) == signed
    assert SignedTransaction.from_proto(signed.to_proto()) == signed


def test_too_many_txs_or_evidence_are_refused(sample_block: Block) -> None:
    tx = sample_block.txs[0]
    with pytest.raises(MalformedMessage, match=r"block\.txs"):
        Block(sample_block.header, (tx,) * (limits.BLOCK_TXS_MAX + 1), None)
    # Decoding refuses an over-limit count before reading a single item.
    header = sample_block.header.encode()
    too_many = (limits.BLOCK_TXS_MAX + 1).to_bytes(4, "little")
    with pytest.raises(DecodeError, match="exceeds the limit"):
        Block.decode(header + too_many + tx.encode() * 3)
    too_many_signatures = (limits.VALIDATORS_MAX + 1).to_bytes(4, "little")
    with pytest.raises(DecodeError, match="exceeds the limit"):
        Commit.decode(bytes(8 + 4 + 32) + too_many_signatures + bytes(84 * 300))


# --- field rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chain_id", "ok"),
    [("zonechain-devnet", True), ("a", True), ("", False), ("-x", False),
     ("has space", False), ("tab\n", False), ("x" * 64, True), ("x" * 65, False)],
)
def test_chain_id_rule(chain_id: str, ok: bool) -> None:
    def build() -> Transaction:
        return Transaction(chain_id, bytes(32), 0, 0, "z", CallPayload(bytes(20), "go"))

    if ok:
        assert build().chain_id == chain_id
    else:
        with pytest.raises(MalformedMessage, match="chain_id"):
            build()


@pytest.mark.parametrize("method", ["", "Go", "1go", "go\n", "g" * 65, "go-now"])
def test_bad_method_names_are_refused(method: str) -> None:
    with pytest.raises(MalformedMessage, match=r"call\.method"):
        CallPayload(bytes(20), method)


def test_bad_sizes_and_ranges_are_refused() -> None:
    payload = CallPayload(bytes(20), "go")
    with pytest.raises(MalformedMessage, match=r"tx\.sender"):
        Transaction("c", bytes(31), 0, 0, "z", payload)
    with pytest.raises(MalformedMessage, match=r"tx\.nonce"):
        Transaction("c", bytes(32), 2**64, 0, "z", payload)
    with pytest.raises(MalformedMessage, match=r"tx\.expiry_height"):
        Transaction("c", bytes(32), 0, 0, "z", payload, -1)
    with pytest.raises(MalformedMessage, match="signature"):
        SignedTransaction(Transaction("c", bytes(32), 0, 0, "z", payload), bytes(63))
    with pytest.raises(MalformedMessage, match=r"vote\.round"):
        Vote(VoteType.PREVOTE, "c", 1, 2**32, None, bytes(20), bytes(64))
    with pytest.raises(MalformedMessage, match=r"vote\.type"):
        Vote(3, "c", 1, 0, None, bytes(20), bytes(64))  # type: ignore[arg-type]
    with pytest.raises(MalformedMessage, match=r"header\.height"):
        BlockHeader("c", 0, 0, *(bytes(32),) * 7, bytes(20))
    with pytest.raises(MalformedMessage, match=r"proposal\.pol_round"):
        Proposal("c", 1, 2, 2, bytes(32), bytes(20), bytes(64))


def test_commit_signatures_must_be_sorted_and_unique() -> None:
    a = CommitSignature(b"\x01" * 20, bytes(64))
    b = CommitSignature(b"\x02" * 20, bytes(64))
    with pytest.raises(MalformedMessage, match="sorted"):
        Commit(1, 0, bytes(32), (b, a))
    with pytest.raises(MalformedMessage, match="sorted"):
        Commit(1, 0, bytes(32), (a, a))
    with pytest.raises(MalformedMessage, match="empty"):
        Commit(1, 0, bytes(32), ())
    commit = Commit.from_signatures(1, 0, bytes(32), [b, a])
    assert commit.signatures == (a, b)
    vote = commit.precommit_vote("c", a)
    assert (vote.type, vote.height, vote.block_hash, vote.validator) == (
        VoteType.PRECOMMIT, 1, bytes(32), a.validator
    )


@settings(max_examples=30)
@given(VOTES)
def test_evidence_rules(vote: Vote) -> None:
    with pytest.raises(MalformedMessage, match="different blocks"):
        DuplicateVoteEvidence.from_votes(vote, vote)
    other_round = (vote.round + 1) % 2**32
    moved = Vote(vote.type, vote.chain_id, vote.height, other_round, b"\x07" * 32,
                 vote.validator, vote.signature)
    with pytest.raises(MalformedMessage, match="share"):
        DuplicateVoteEvidence.from_votes(vote, moved)
    conflicting = dataclasses.replace(vote, block_hash=None if vote.block_hash else bytes(32))
    found = DuplicateVoteEvidence.from_votes(conflicting, vote)
    assert found == DuplicateVoteEvidence.from_votes(vote, conflicting)
    with pytest.raises(MalformedMessage, match="smaller"):
        DuplicateVoteEvidence(found.vote_b, found.vote_a)


def test_receipt_status_rules() -> None:
    with pytest.raises(MalformedMessage, match="error_code"):
        Receipt(bytes(32), ReceiptStatus.SUCCESS, 1, error_code="oops")
    with pytest.raises(MalformedMessage, match="error_code"):
        Receipt(bytes(32), ReceiptStatus.CONTRACT_ERROR, 1)
    with pytest.raises(MalformedMessage, match="status"):
        Receipt.from_proto(types_pb2.Receipt(tx_hash=bytes(32)))
    assert Receipt(bytes(32), ReceiptStatus.REJECTED, 0, error_code="bad_nonce").succeeded is False


# --- hashes and block contents -------------------------------------------------------


@settings(max_examples=30)
@given(SIGNED_TRANSACTIONS, st.binary(min_size=64, max_size=64))
def test_tx_id_covers_the_signature(signed: SignedTransaction, other: bytes) -> None:
    resigned = SignedTransaction(signed.tx, other)
    assert (resigned.hash == signed.hash) == (other == signed.signature)


@settings(max_examples=30)
@given(TRANSACTIONS, TRANSACTIONS)
def test_distinct_transactions_sign_distinct_bytes(a: Transaction, b: Transaction) -> None:
    assert (a.signing_bytes() == b.signing_bytes()) == (a == b)


@settings(max_examples=20)
@given(HEADERS)
def test_block_hash_is_header_hash_and_changes_with_every_field(header: BlockHeader) -> None:
    later = dataclasses.replace(header, time_ms=(header.time_ms + 1) % 2**64)
    assert later.hash != header.hash


@settings(max_examples=20)
@given(BLOCKS)
def test_check_contents(block: Block) -> None:
    from zonechain.node.types import evidence_root, last_commit_hash, tx_root

    commit = block.last_commit
    height = 1 if commit is None else (commit.height + 1) % 2**64 or 1
    if commit is not None and commit.height == 2**64 - 1:
        return
    header = dataclasses.replace(
        block.header, height=height, tx_root=tx_root(block.txs),
        last_commit_hash=last_commit_hash(commit), evidence_root=evidence_root(block.evidence),
    )
    good = Block(header, block.txs, commit, block.evidence)
    good.check_contents()
    with pytest.raises(MalformedMessage, match="tx_root"):
        Block(dataclasses.replace(header, tx_root=b"\x09" * 32), block.txs, commit,
              block.evidence).check_contents()
    with pytest.raises(MalformedMessage, match="last_commit"):
        Block(dataclasses.replace(header, height=height + 1), block.txs, commit,
              block.evidence).check_contents()


@settings(max_examples=10)
@given(commits(), evidence(), receipts())
def test_hash_domains_separate_types(commit: Commit, item: DuplicateVoteEvidence,
                                     receipt: Receipt) -> None:
    hashes = {commit.hash, item.hash, receipt.hash, item.vote_a.hash}
    assert len(hashes) == 4
