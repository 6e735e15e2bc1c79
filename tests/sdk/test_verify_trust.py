"""The light-client trust chain (sdk/trust.py) over an in-memory chain with two set changes.

The chain: genesis validators k1..k4 (heights 1-4); a governance proposal in
block 3 adds k5 (set B from 5) and one in block 7 removes k1 (set C from 9);
each proposal executes in the transaction that proposes it (events
governance/proposed + governance/executed, as a one-approval policy gives).
Headers, certificates, transaction and receipt roots, state roots and proofs
are real; the tests make the node lie in one place at a time.
"""

from __future__ import annotations

import dataclasses

import pytest

from zonechain.node.consensus.validators import ValidatorSet
from zonechain.node.crypto import PrivateKey, sign_vote
from zonechain.node.permissions.actions import (
    VALIDATOR_CHANGE_DELAY,
    Action,
    AddValidator,
    RemoveValidator,
)
from zonechain.node.permissions.governance import (
    GOVERNANCE_ADDRESS,
    TOPIC_EXECUTED,
    TOPIC_PROPOSED,
    Proposal,
    ProposalStatus,
)
from zonechain.node.permissions.model import Validator as RecordedValidator
from zonechain.node.permissions.model import ValidatorSet as RecordedValidatorSet
from zonechain.node.permissions.store import proposal_key
from zonechain.node.state.proof import hash_key, hash_value
from zonechain.node.state.reference import reference_proof_hashed, reference_root
from zonechain.node.types import (
    Block,
    BlockHeader,
    Commit,
    CommitSignature,
    Event,
    Receipt,
    ReceiptStatus,
    SignedTransaction,
    VoteType,
    evidence_root,
    last_commit_hash,
    tx_root,
)
from zonechain.node.types.block import receipts_root
from zonechain.sdk import Key
from zonechain.sdk.errors import VerificationFailed
from zonechain.sdk.governance import build_proposal
from zonechain.sdk.responses import BlockInfo, StateValue
from zonechain.sdk.trust import RECORD_DELAY, consensus_set
from zonechain.sdk.verify import Verifier
from zonechain.vm.encoding import Writer

CHAIN_ID = "trust-chain"
KEYS = tuple(PrivateKey.from_seed(bytes([i + 1]) * 32) for i in range(5))
ADMIN = Key.from_seed(b"\x42" * 32)
ORG = "bank-a"
CHAIN_HEIGHT = 12
DATA_KEY = b"a/counter"
EXPIRY = 100


def recorded(keys: tuple[PrivateKey, ...]) -> RecordedValidatorSet:
    return RecordedValidatorSet.of([RecordedValidator(k.public_key, 1, ORG) for k in keys])


GENESIS, SET_B, SET_C = recorded(KEYS[:4]), recorded(KEYS), recorded(KEYS[1:])
PROPOSALS: dict[int, tuple[int, Action]] = {  # executed in block -> (proposal id, action)
    3: (1, AddValidator(RecordedValidator(KEYS[4].public_key, 1, ORG))),
    7: (2, RemoveValidator(KEYS[0].address)),
}
CHANGES = {0: GENESIS, 3 + VALIDATOR_CHANGE_DELAY: SET_B, 7 + VALIDATOR_CHANGE_DELAY: SET_C}


def signers_at(height: int) -> tuple[PrivateKey, ...]:
    effective = max(h for h in CHANGES if h <= height)
    chosen = CHANGES[effective]
    return tuple(k for k in KEYS if chosen.get(k.address) is not None)


def sign(keys: tuple[PrivateKey, ...], height: int, block_hash: bytes) -> Commit:
    votes = [sign_vote(k, VoteType.PRECOMMIT, CHAIN_ID, height, 0, block_hash) for k in keys]
    return Commit.from_signatures(height, 0, block_hash,
                                  (CommitSignature(v.validator, v.signature) for v in votes))


def proposal_tx(nonce: int, action: Action) -> SignedTransaction:
    tx = build_proposal(chain_id=CHAIN_ID, sender=ADMIN, nonce=nonce, action=action,
                        expiry_height=EXPIRY)
    return ADMIN.sign(tx)


def governance_event(topic: bytes, proposal_id: int, action: Action) -> Event:
    data = Writer().u64(proposal_id).fixed(ADMIN.address, 20).string(action.NAME)
    return Event(GOVERNANCE_ADDRESS, topic, bytes(data))


class Chain:
    """The honest chain; tests then make the node lie (``forge``, ``receipts``, ...)."""

    def __init__(self) -> None:
        state: dict[bytes, bytes] = {}
        self.states: list[dict[bytes, bytes]] = [dict(state)]
        self.blocks: dict[int, Block] = {}
        self.commits: dict[int, Commit] = {}
        self.receipts: dict[bytes, Receipt] = {}
        self.get_block_calls = 0
        last_receipts, last_commit, previous = receipts_root([]), None, bytes(32)
        for height in range(1, CHAIN_HEIGHT + 2):
            txs, receipts = self.execute(height, state)
            header = BlockHeader(
                CHAIN_ID, height, 1_000 * height, previous, tx_root(txs),
                reference_root(self.states[height - 1]), last_receipts,
                last_commit_hash(last_commit), consensus_set(recorded(signers_at(height))).hash,
                evidence_root(()), KEYS[1].address)
            self.blocks[height] = Block(header, tuple(txs), last_commit)
            self.commits[height] = sign(signers_at(height), height, header.hash)
            last_receipts, last_commit, previous = (
                receipts_root(receipts), self.commits[height], header.hash)
            self.states.append(dict(state))

    def execute(self, height: int, state: dict[bytes, bytes]
                ) -> tuple[list[SignedTransaction], list[Receipt]]:
        state[DATA_KEY] = height.to_bytes(8, "big")
        if height not in PROPOSALS:
            return [], []
        proposal_id, action = PROPOSALS[height]
        signed = proposal_tx(proposal_id - 1, action)
        receipt = Receipt(signed.hash, ReceiptStatus.SUCCESS, 0, events=(
            governance_event(TOPIC_PROPOSED, proposal_id, action),
            governance_event(TOPIC_EXECUTED, proposal_id, action)))
        self.receipts[signed.hash] = receipt
        state[proposal_key(proposal_id)] = Proposal(
            proposal_id, ADMIN.address, action, EXPIRY, height, (ADMIN.address,),
            ProposalStatus.EXECUTED, height).encode()
        return [signed], [receipt]

    def forge(self, height: int, signers: tuple[PrivateKey, ...], set_hash: bytes) -> None:
        """Replace header ``height`` with one naming ``set_hash``, signed by ``signers``."""
        block = self.blocks[height]
        header = dataclasses.replace(block.header, validator_set_hash=set_hash)
        self.blocks[height] = dataclasses.replace(block, header=header)
        self.commits[height] = sign(signers, height, header.hash)

    # --- the ChainSource protocol ---------------------------------------------------

    def read_state(self, key: bytes, *, height: int | None = None,
                   prove: bool = False) -> StateValue:
        height = CHAIN_HEIGHT if height is None else height
        state = self.states[height]
        leaves = {hash_key(k): hash_value(v) for k, v in state.items()}
        proof = reference_proof_hashed(leaves, hash_key(key)).encode()
        return StateValue(height, key, state.get(key), proof, self.blocks[height + 1].header,
                          self.commits[height + 1])

    def get_block(self, height: int | None = None) -> BlockInfo | None:
        self.get_block_calls += 1
        height = CHAIN_HEIGHT if height is None else height
        return BlockInfo(self.blocks[height], self.commits[height])

    def get_receipt(self, tx_hash: bytes) -> Receipt | None:
        return self.receipts.get(tx_hash)


@pytest.fixture
def chain() -> Chain:
    return Chain()


def verifier() -> Verifier:
    return Verifier(CHAIN_ID, consensus_set(GENESIS))


def test_the_delay_literal_matches_governance() -> None:
    assert RECORD_DELAY == VALIDATOR_CHANGE_DELAY


def test_a_read_after_two_changes_verifies_and_the_walk_is_cached(chain: Chain) -> None:
    trusting = verifier()
    value = trusting.verify_state(chain.read_state(DATA_KEY, height=11, prove=True), chain)
    assert value.verified and value.value == (11).to_bytes(8, "big")
    assert [(h, s.hash) for h, s in trusting.trust.changes] == [
        (1, consensus_set(GENESIS).hash), (5, consensus_set(SET_B).hash),
        (9, consensus_set(SET_C).hash)]
    calls = chain.get_block_calls
    again = trusting.verify_state(chain.read_state(DATA_KEY, height=10, prove=True), None)
    assert again.verified and chain.get_block_calls == calls  # known heights: no fetch
    early = trusting.verify_state(chain.read_state(DATA_KEY, height=2, prove=True), None)
    assert early.verified  # an old read still uses the genesis set


def test_reads_before_any_change_need_no_source(chain: Chain) -> None:
    value = verifier().verify_state(chain.read_state(DATA_KEY, height=3, prove=True))
    assert value.verified


def test_following_a_change_needs_a_source(chain: Chain) -> None:
    with pytest.raises(VerificationFailed, match="needs a source"):
        verifier().verify_state(chain.read_state(DATA_KEY, height=8, prove=True))


def test_a_forged_proposal_fails(chain: Chain) -> None:
    attacker = PrivateKey.from_seed(b"\x66" * 32)
    forged = proposal_tx(0, AddValidator(RecordedValidator(attacker.public_key, 1, ORG)))
    block = chain.blocks[3]
    chain.blocks[3] = dataclasses.replace(block, txs=(forged,))
    chain.receipts[forged.hash] = dataclasses.replace(
        chain.receipts[block.txs[0].hash], tx_hash=forged.hash)
    with pytest.raises(VerificationFailed, match=r"block 3: .*tx_root"):
        verifier().verify_state(chain.read_state(DATA_KEY, height=11, prove=True), chain)


def test_a_forged_receipt_fails(chain: Chain) -> None:
    tx_hash = chain.blocks[7].txs[0].hash
    chain.receipts[tx_hash] = dataclasses.replace(chain.receipts[tx_hash], events=())
    with pytest.raises(VerificationFailed, match="receipts of block 7"):
        verifier().verify_state(chain.read_state(DATA_KEY, height=11, prove=True), chain)


def test_a_wrong_proposal_hint_fails(chain: Chain) -> None:
    record = Proposal.decode(chain.states[CHAIN_HEIGHT][proposal_key(2)])
    chain.states[CHAIN_HEIGHT][proposal_key(2)] = dataclasses.replace(
        record, created_height=5).encode()
    with pytest.raises(VerificationFailed, match="block 5 does not propose proposal 2"):
        verifier().verify_state(chain.read_state(DATA_KEY, height=11, prove=True), chain)


def test_a_header_signed_by_the_old_set_after_the_change_fails(chain: Chain) -> None:
    chain.forge(12, KEYS[:4], consensus_set(SET_C).hash)  # claims C, signed by genesis
    with pytest.raises(VerificationFailed, match="commit certificate of header 12"):
        verifier().verify_state(chain.read_state(DATA_KEY, height=11, prove=True), chain)


def test_a_header_naming_the_old_set_after_the_change_fails(chain: Chain) -> None:
    trusting = verifier()
    trusting.verify_state(chain.read_state(DATA_KEY, height=9, prove=True), chain)
    honest = chain.read_state(DATA_KEY, height=11, prove=True)
    chain.forge(12, KEYS[:4], consensus_set(GENESIS).hash)  # the old set, signing as itself
    forged = chain.read_state(DATA_KEY, height=11, prove=True)
    with pytest.raises(VerificationFailed, match="block 10 executed no validator change"):
        trusting.verify_state(forged, chain)  # the node claims a return to genesis: unproven
    chain.forge(12, signers_at(12), consensus_set(SET_C).hash)  # its blocks honest again
    lying_answer = dataclasses.replace(honest, header=forged.header, commit=forged.commit)
    with pytest.raises(VerificationFailed, match="set hash mismatch"):
        trusting.verify_state(lying_answer, chain)


def test_a_set_hash_mismatch_at_the_change_fails(chain: Chain) -> None:
    chain.forge(5, KEYS, consensus_set(SET_C).hash)  # header 5 names C, not the recorded B
    with pytest.raises(VerificationFailed, match="set hash mismatch"):
        verifier().verify_state(chain.read_state(DATA_KEY, height=6, prove=True), chain)


def test_a_change_without_a_governance_execution_fails(chain: Chain) -> None:
    chain.forge(4, KEYS, consensus_set(SET_B).hash)  # the node pretends B took over at 4
    with pytest.raises(VerificationFailed, match="block 2 executed no validator change"):
        verifier().verify_state(chain.read_state(DATA_KEY, height=6, prove=True), chain)


def test_a_tampered_value_fails_after_the_walk(chain: Chain) -> None:
    honest = chain.read_state(DATA_KEY, height=11, prove=True)
    tampered = dataclasses.replace(honest, value=b"forged")
    with pytest.raises(VerificationFailed, match="state proof of key"):
        verifier().verify_state(tampered, chain)


def test_a_stranger_set_is_refused(chain: Chain) -> None:
    strangers = Verifier(CHAIN_ID, ValidatorSet(consensus_set(recorded((KEYS[4],))).validators))
    with pytest.raises(VerificationFailed, match="validator set"):
        strangers.verify_state(chain.read_state(DATA_KEY, height=11, prove=True), chain)
