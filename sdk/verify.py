"""Verified reads: check a node's answer against a root that the validators signed.

``Verifier(chain_id, validators)`` holds what the client trusts: the chain id
and the genesis validator set. ``verify_state(value)`` accepts a
``StateValue`` (a ``Query`` with ``prove``) only when ALL of these hold,
and raises ``VerificationFailed`` saying which did not:

1. the answer carries a header, its commit certificate and a proof;
2. the header is for this chain and for ``value.height + 1`` (docs/PROTOCOL.md
   state-root rule: header H+1 carries the state root after block H);
3. the certificate is for that header (same height, block hash = header hash);
4. the header names the trusted validator set (``validator_set_hash``);
5. the certificate is signed by more than 2/3 of that set's voting power
   (``zonechain.node.consensus.certificate.verify_commit``);
6. the proof (``zonechain.node.state.proof``) shows that under the header's
   ``last_state_root`` the key holds exactly ``value.value`` (or is absent).

Limit: the trusted set is the genesis set. Once governance changes the
validator set, step 4 fails with a clear message; following validator-set
changes (light-client skipping verification) is not built yet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from zonechain.node.consensus.certificate import verify_commit
from zonechain.node.consensus.errors import InvalidCommit
from zonechain.node.consensus.validators import Validator, ValidatorSet
from zonechain.node.state.proof import ProofError, decode_proof, verify_proof
from zonechain.sdk.errors import VerificationFailed
from zonechain.sdk.responses import StateValue


class Verifier:
    """Checks proofs against headers certified by the trusted validator set."""

    __slots__ = ("chain_id", "validators")

    def __init__(self, chain_id: str, validators: ValidatorSet) -> None:
        self.chain_id = chain_id
        self.validators = validators

    @classmethod
    def from_public_keys(
        cls, chain_id: str, keys_and_powers: Iterable[tuple[bytes, int]]
    ) -> Verifier:
        """A verifier trusting validators given as (32-byte public key, voting power)."""
        return cls(chain_id, ValidatorSet(Validator(key, power) for key, power in keys_and_powers))

    def verify_state(self, value: StateValue) -> StateValue:
        """``value`` marked verified, or VerificationFailed (see the module docstring)."""
        header, commit = value.header, value.commit
        if header is None or commit is None or not value.proof:
            raise VerificationFailed("the node sent no header, certificate or proof to check")
        if header.chain_id != self.chain_id:
            raise VerificationFailed(f"header is for chain {header.chain_id!r}, "
                                     f"expected {self.chain_id!r}")
        if header.height != value.height + 1:
            raise VerificationFailed(f"a value after height {value.height} is proven by header "
                                     f"{value.height + 1}, got header {header.height}")
        if commit.height != header.height or commit.block_hash != header.hash:
            raise VerificationFailed("the commit certificate is not for the header sent")
        if header.validator_set_hash != self.validators.hash:
            raise VerificationFailed("the header names a validator set other than the trusted "
                                     "(genesis) set; following set changes is not supported")
        try:
            verify_commit(commit, self.validators, self.chain_id)
        except InvalidCommit as error:
            raise VerificationFailed(f"commit certificate: {error}") from None
        try:
            verify_proof(header.last_state_root, value.key, value.value, decode_proof(value.proof))
        except ProofError as error:
            raise VerificationFailed(f"state proof: {error}") from None
        return dataclasses.replace(value, verified=True)
