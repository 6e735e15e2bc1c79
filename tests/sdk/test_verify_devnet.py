"""Verified reads across governed validator-set changes, on a real pilot devnet.

Governance adds the full node as a 5th validator and removes a genesis one
(as tests/node/test_governance_devnet.py does); a ``Verifier`` that knows
only the genesis set then verifies a read after both changes, having followed
them through proven set records, and refuses tampered answers.

Marked slow (multi-process); every wait polls with a deadline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from tests.node.test_governance_devnet import (
    FULL_NODES,
    NEW_VALIDATOR,
    OWNER,
    POWER,
    REMOVED_VALIDATOR,
    VALIDATORS,
    WAIT_S,
    Pilot,
    _genesis_validators,
    committed_height,
    give_validator_key,
    network_vote,
)
from zonechain.node.accounts import AccountRecord, account_key
from zonechain.node.consensus.validators import Validator, ValidatorSet
from zonechain.node.node_cli import DEVNET_TIMEOUTS, Devnet, find_base_port
from zonechain.node.permissions.actions import VALIDATOR_CHANGE_DELAY
from zonechain.sdk import Client, governance
from zonechain.sdk.errors import VerificationFailed
from zonechain.sdk.verify import Verifier

pytestmark = pytest.mark.slow

READER = "central-bank-admin"
"""An account with a non-zero nonce after the votes: its record is the value read."""


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pilot]:
    nodes = VALIDATORS + FULL_NODES
    devnet = Devnet(tmp_path_factory.mktemp("verify") / "net", VALIDATORS,
                    full_nodes=FULL_NODES, permissions="pilot", reset=True,
                    timeouts=DEVNET_TIMEOUTS, base_port=find_base_port(nodes))
    devnet.prepare()
    devnet.reset = False  # start() prepares again: keep the key given below
    key = give_validator_key(devnet, NEW_VALIDATOR)
    with devnet:
        yield Pilot(devnet, key)


def test_a_verified_read_follows_an_add_and_a_remove(pilot: Pilot) -> None:
    devnet = pilot.devnet
    genesis = _genesis_validators(devnet)
    removed = genesis[REMOVED_VALIDATOR]
    new_key = pilot.new_validator
    with pilot.client() as plain:
        chain_id = plain.chain_id
        added = network_vote(pilot, plain, governance.add_validator(
            new_key.public_key, POWER, OWNER))
        dropped = network_vote(pilot, plain, governance.remove_validator(removed.address))
        assert added.executed and dropped.executed
        added_from = committed_height(plain, added) + VALIDATOR_CHANGE_DELAY
        removed_from = committed_height(plain, dropped) + VALIDATOR_CHANGE_DELAY
    devnet.wait_for_height(removed_from + 2, WAIT_S)

    with_new = [*genesis, Validator(new_key.public_key, POWER)]
    final = ValidatorSet(v for v in with_new if v.address != removed.address)
    verifier = Verifier(chain_id, ValidatorSet(genesis))
    key = account_key(pilot.account(READER).address)
    with Client(devnet.client_endpoints[:VALIDATORS], timeout_s=10,
                verifier=verifier) as client:
        value = client.read_state(key, verify=True)
        assert value.verified and value.header is not None
        assert value.header.height >= removed_from
        assert value.header.validator_set_hash == final.hash
        assert AccountRecord.decode(value.value or b"").nonce > 0
        assert [(height, s.hash) for height, s in verifier.trust.changes] == [
            (1, ValidatorSet(genesis).hash),
            (added_from, ValidatorSet(with_new).hash),
            (removed_from, final.hash)]

        proven = client.read_state(key, height=value.height, prove=True)
        tampered = dataclasses.replace(proven, value=AccountRecord(10**6).encode())
        with pytest.raises(VerificationFailed, match="state proof"):
            verifier.verify_state(tampered, client)
        before = client.get_block(added_from - 1)  # certified by the genesis set
        assert before is not None and before.commit is not None
        mixed = dataclasses.replace(proven, commit=before.commit)
        with pytest.raises(VerificationFailed, match="not for header"):
            verifier.verify_state(mixed, client)
        fresh = Verifier(chain_id, ValidatorSet(genesis))  # no source: cannot follow
        with pytest.raises(VerificationFailed, match="needs a source"):
            fresh.verify_state(proven)
