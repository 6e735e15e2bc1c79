"""Commit certificates: build one from precommits, and verify one against a validator set.

``verify_commit(commit, validator_set, chain_id)`` is pure and is the check
block sync and the SDK use. It passes only when:
- every signer is in the set, and no signer appears twice (the Commit type
  already keeps signatures strictly sorted; checked again here);
- every signature is a valid precommit signature by that signer for
  (chain_id, commit.height, commit.round, commit.block_hash);
- the signers' power is more than 2/3 of the set's total.
Otherwise it raises ``InvalidCommit`` saying which rule failed. It returns
the signed power.

Determinism: integer power arithmetic; signatures checked in address order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from zonechain.node.consensus.errors import InvalidCommit
from zonechain.node.consensus.validators import ValidatorSet
from zonechain.node.crypto import verify_signature
from zonechain.node.types.commit import Commit, CommitSignature
from zonechain.node.types.vote import Vote, VoteType

SignatureVerifier = Callable[[bytes, bytes, bytes], bool]
"""verify(public_key, message, signature) -> bool; ed25519 by default."""


def commit_from_precommits(precommits: Iterable[Vote]) -> Commit:
    """A Commit from precommits that all name one (height, round, block)."""
    votes = list(precommits)
    if not votes:
        raise InvalidCommit("no precommits")
    first = votes[0]
    if first.block_hash is None:
        raise InvalidCommit("a commit certifies a block, not nil")
    for vote in votes:
        if vote.type != VoteType.PRECOMMIT or (vote.height, vote.round, vote.block_hash) != (
            first.height, first.round, first.block_hash
        ):
            raise InvalidCommit("precommits disagree on height, round or block")
    return Commit.from_signatures(
        first.height, first.round, first.block_hash,
        (CommitSignature(v.validator, v.signature) for v in votes),
    )


def verify_commit(
    commit: Commit, validator_set: ValidatorSet, chain_id: str,
    verify: SignatureVerifier = verify_signature,
) -> int:
    """Return the signed power if ``commit`` is a valid certificate; else raise InvalidCommit."""
    signed_power = 0
    previous: bytes | None = None
    for signature in commit.signatures:
        if previous is not None and signature.validator <= previous:
            raise InvalidCommit("signatures are not strictly sorted by validator (duplicate?)")
        previous = signature.validator
        member = validator_set.get(signature.validator)
        if member is None:
            raise InvalidCommit(f"signer {signature.validator.hex()} is not a validator")
        message = Vote.signing_bytes_for(
            VoteType.PRECOMMIT, chain_id, commit.height, commit.round, commit.block_hash,
            signature.validator,
        )
        if not verify(member.public_key, message, signature.signature):
            raise InvalidCommit(f"signature of {signature.validator.hex()} does not verify")
        signed_power += member.power
    if not validator_set.has_quorum(signed_power):
        raise InvalidCommit(
            f"signers hold {signed_power} of {validator_set.total_power} power, "
            "not more than 2/3"
        )
    return signed_power
