"""Governance on a real pilot devnet (4 validators + 1 full node, `init --permissions pilot`).

- the CLI steps of docs/GOVERNANCE.md's worked example, run as written;
- under token-transfer load, governance adds the full node as a 5th validator
  and removes another: every header's validator-set hash and every commit
  certificate match the expected set at each height, the new validator signs
  after its effective height, the removed one's signatures stop, all nodes
  agree on every block (hence every state root);
- a proposal lacking approvals changes nothing; a frozen contract refuses calls.

Marked slow (multi-process); every wait polls with a deadline. The tests share
one network and run in file order (the doc example expects proposal ids 1..3).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.node.test_node_support import give_validator_key as give_node_validator_key
from tests.node.test_node_support import token_artifact, wait_until
from zonechain.node.cli import main
from zonechain.node.config import (
    load_key_seed,
)
from zonechain.node.consensus.certificate import verify_commit
from zonechain.node.consensus.validators import Validator, ValidatorSet
from zonechain.node.crypto import PrivateKey
from zonechain.node.init_cli import issue_validator_certificate
from zonechain.node.node_cli import DEVNET_TIMEOUTS, Devnet, find_base_port
from zonechain.node.permissions.actions import VALIDATOR_CHANGE_DELAY
from zonechain.node.permissions.model import Zone
from zonechain.node.permissions.store import load_member, validator_set_key, zone_key
from zonechain.node.types.address import parse_address
from zonechain.node.types.block import Block
from zonechain.node.types.commit import Commit
from zonechain.proto import services_pb2, services_pb2_grpc
from zonechain.sdk import Client, Key, TransactionFailed, governance
from zonechain.sdk.cli import read_public_fields
from zonechain.sdk.contract import Contract, encode_call, init_arguments
from zonechain.sdk.errors import ZonechainError
from zonechain.sdk.transactions import build_call
from zonechain.vm.state import DictState

pytestmark = pytest.mark.slow

VALIDATORS = 4
FULL_NODES = 1
NEW_VALIDATOR = 4  # node4: written by init as a full node
REMOVED_VALIDATOR = 3
POWER = 10  # init's VOTING_POWER_DEFAULT: the new validator gets the same
OWNER = "central-bank"
ZONE = "cross-border-finance"
"""Deploy: ANY deployer of bank-a,bank-b,central-bank; call: ANY deployer,client;
governance: ALL admin of central-bank,customs,regulator."""
WAIT_S = 120.0
DEPLOY_GAS = 50_000_000
LOAD_SENDERS = ("bank-a-ops", "bank-b-ops")
LOAD_BATCH = 10
LOAD_FUNDS = 10**9
PROPOSER = "central-bank-admin"
APPROVERS = ("bank-a-admin", "bank-b-admin", "regulator-admin", "customs-admin",
             "tax-bureau-admin")
"""With the proposer, six admins of ten organisations: MAJORITY admin."""
BLOCKS_AFTER = 4
"""Blocks checked past the last effective height."""
DOC = Path(__file__).resolve().parents[2] / "docs" / "GOVERNANCE.md"
EXAMPLE_MARK = "<!-- governance-cli-example -->"
PASSPHRASE = "bank c passphrase"


def give_validator_key(devnet: Devnet, index: int) -> PrivateKey:
    """An operator's step: a key for a full node (not in any validator set yet)."""
    home = devnet.nodes[index].home
    key = give_node_validator_key(home)
    # Peers accept votes by the key the TLS certificate names: re-issue it for the new key.
    issue_validator_certificate(devnet.directory, home, key.public_key)
    return key


@dataclasses.dataclass
class Pilot:
    devnet: Devnet
    new_validator: PrivateKey

    def account(self, name: str) -> Key:
        seed, public_key = load_key_seed(self.devnet.directory / "accounts" / f"{name}.key")
        key = Key.from_seed(seed)
        assert key.public_key == public_key
        return key

    def client(self) -> Client:
        return Client(self.devnet.client_endpoints[:VALIDATORS], timeout_s=10)


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pilot]:
    nodes = VALIDATORS + FULL_NODES
    devnet = Devnet(tmp_path_factory.mktemp("governance") / "net", VALIDATORS,
                    full_nodes=FULL_NODES, permissions="pilot", reset=True,
                    timeouts=DEVNET_TIMEOUTS, base_port=find_base_port(nodes))
    devnet.prepare()
    devnet.reset = False  # start() prepares again: keep the key given below
    key = give_validator_key(devnet, NEW_VALIDATOR)
    with devnet:
        yield Pilot(devnet, key)


# ---- the worked example of docs/GOVERNANCE.md, through the CLI --------------------------


def example_commands() -> list[str]:
    """The `zonechain keys|governance` lines of the doc's marked shell blocks, in order."""
    text = DOC.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(re.escape(EXAMPLE_MARK) + r"\s*```shell\n(.*?)```", text, re.S):
        commands += [line.strip() for line in block.splitlines()
                     if line.strip().startswith(("zonechain keys", "zonechain governance"))]
    return commands


def test_doc_worked_example_runs_through_the_cli(
        pilot: Pilot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    commands = example_commands()
    assert len(commands) >= 15, commands
    keys_dir = tmp_path / "keys"
    monkeypatch.setenv("ZONECHAIN_KEYS_DIR", str(keys_dir))
    monkeypatch.setenv("ZONECHAIN_NODES", ",".join(pilot.devnet.client_endpoints[:VALIDATORS]))
    monkeypatch.setenv("BANK_C_PASS", PASSPHRASE)
    monkeypatch.setenv("NET", str(pilot.devnet.directory))
    for command in commands:
        for name, variable, field in (("bank-c-admin", "BANK_C_ADMIN_KEY", 1),
                                      ("bank-c-ops", "BANK_C_OPS", 0)):
            path = keys_dir / f"{name}.key.json"
            if path.is_file():
                monkeypatch.setenv(variable, read_public_fields(path)[field])
        argv = shlex.split(os.path.expandvars(command))[1:]
        assert "$" not in " ".join(argv), argv
        code = main(argv)
        output = capsys.readouterr()
        assert code == 0, (command, output.out, output.err)
    assert "executed" in output.out  # the last command lists the executed proposals

    ops = parse_address(read_public_fields(keys_dir / "bank-c-ops.key.json")[0])
    with pilot.client() as client:
        assert [view.status for view in client.proposals()] == ["executed"] * 3
        state = client.read_state(zone_key("trade-finance"))
        assert state.value is not None
        zone = Zone.decode(state.value)
        assert zone.policy("deploy").text == "ANY deployer of bank-a,bank-b,bank-c,central-bank"
        member = client.read_state(b"gm" + ops)
        assert member.value is not None
        recorded = load_member(DictState({b"gm" + ops: member.value}), ops)
        assert recorded is not None and recorded.organisation == "bank-c"


# ---- a live validator change under load ---------------------------------------------------


class TransferLoad:
    """Token transfers from the pilot's ops accounts, in paced batches."""

    def __init__(self, endpoints: list[str], token: bytes, senders: list[Key]) -> None:
        self.client = Client(endpoints, timeout_s=10)
        self.senders = senders
        self.recipient = Key.generate().address
        _, self.args = encode_call(token_artifact().abi, "transfer", (self.recipient, 1), {})
        self.token = token
        self.nonces = [self.client.account_nonce(key.address) for key in senders]
        self.accepted = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        chain_id = self.client.chain_id
        while not self.stopped.is_set():
            batch = []
            for index, key in enumerate(self.senders):
                for _ in range(LOAD_BATCH):
                    batch.append(key.sign(build_call(
                        chain_id=chain_id, sender=key, nonce=self.nonces[index],
                        contract=self.token, method="transfer", args=self.args, zone=ZONE)))
                    self.nonces[index] += 1
            try:
                results = self.client.submit_many(batch)
                self.accepted += sum(result.accepted for result in results)
                if not all(result.accepted for result in results):
                    self.nonces = [self.client.account_nonce(k.address) for k in self.senders]
            except ZonechainError:
                continue
            self.stopped.wait(0.3)  # pacing of the load generator, not synchronisation

    def __enter__(self) -> TransferLoad:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopped.set()
        self.thread.join(30)
        self.client.close()


def deploy_token(pilot: Pilot, client: Client, holders: list[Key]) -> Contract:
    artifact = token_artifact()
    owner = pilot.account("central-bank-ops")
    deployed = client.deploy(owner, artifact.code,
                             init_arguments(artifact.abi, ("Pilot", "PLT", 0), {}),
                             zone=ZONE, gas_limit=DEPLOY_GAS, timeout_s=WAIT_S)
    assert deployed.created_contract is not None
    token = Contract(client, deployed.created_contract, artifact.abi, key=owner, zone=ZONE)
    for holder in holders:
        token.mint(holder.address, LOAD_FUNDS)
    return token


def network_vote(pilot: Pilot, client: Client, action: governance.Action,
                 approvers: tuple[str, ...] = APPROVERS) -> governance.GovernanceResult:
    result = client.propose(pilot.account(PROPOSER), action, timeout_s=WAIT_S)
    for approver in approvers:
        result = client.approve(pilot.account(approver), result.proposal_id, timeout_s=WAIT_S)
    return result


def committed_height(client: Client, result: governance.GovernanceResult) -> int:
    info = client.get_transaction(result.receipt.tx_hash)
    assert info is not None and not info.pending
    return info.height


def block_and_commit(endpoint: str, height: int) -> tuple[Block, Commit]:
    with grpc.insecure_channel(endpoint) as channel:
        stub = services_pb2_grpc.ClientStub(channel)  # type: ignore[no-untyped-call]
        answer = stub.GetBlock(services_pb2.GetBlockRequest(height=height), timeout=10)
    assert answer.found, (endpoint, height)
    return Block.from_proto(answer.block), Commit.from_proto(answer.commit)


def test_add_a_validator_and_remove_another_under_load(pilot: Pilot) -> None:
    devnet = pilot.devnet
    genesis = _genesis_validators(devnet)
    removed = genesis[REMOVED_VALIDATOR]
    senders = [pilot.account(name) for name in LOAD_SENDERS]
    new_key = pilot.new_validator
    with pilot.client() as client:
        token = deploy_token(pilot, client, senders)
        chain_id = client.chain_id
        with TransferLoad(devnet.client_endpoints[:VALIDATORS], token.address, senders) as load:
            wait_until(lambda: load.accepted > 0, WAIT_S, "load accepted")

            # Five of ten admins: not a majority; nothing changes.
            proposed = network_vote(pilot, client, governance.add_validator(
                new_key.public_key, POWER, OWNER), APPROVERS[:-1])
            assert not proposed.executed
            waiting = client.proposal(proposed.proposal_id)
            assert waiting is not None and waiting.status == "open"
            assert len(waiting.proposal.approvals) == 5
            pending_at = committed_height(client, proposed)
            assert client.read_state(
                validator_set_key(pending_at + VALIDATOR_CHANGE_DELAY)).value is None

            # The sixth approval executes it; then remove node3 the same way.
            added = client.approve(pilot.account(APPROVERS[-1]), proposed.proposal_id,
                                   timeout_s=WAIT_S)
            assert added.executed
            added_from = committed_height(client, added) + VALIDATOR_CHANGE_DELAY
            dropped = network_vote(pilot, client, governance.remove_validator(
                removed.address))
            assert dropped.executed
            removed_from = committed_height(client, dropped) + VALIDATOR_CHANGE_DELAY
            last = removed_from + BLOCKS_AFTER
            devnet.wait_for_height(last, WAIT_S)
        assert load.accepted > 0

    with_new = [*genesis, Validator(new_key.public_key, POWER)]
    sets = {
        "genesis": ValidatorSet(genesis),
        "added": ValidatorSet(with_new),
        "removed": ValidatorSet(v for v in with_new if v.address != removed.address),
    }

    def expected(height: int) -> ValidatorSet:
        if height < added_from:
            return sets["genesis"]
        return sets["added"] if height < removed_from else sets["removed"]

    reference = devnet.nodes[0].client
    new_signed: list[int] = []
    transfers_after = 0
    for height in range(1, last + 1):
        block, commit = block_and_commit(reference, height)
        assert block.header.validator_set_hash == expected(height).hash, height
        verify_commit(commit, expected(height), chain_id)  # non-members never count
        signers = {signature.validator for signature in commit.signatures}
        if new_key.address in signers:
            new_signed.append(height)
        if height >= removed_from:
            assert removed.address not in signers, height
        if height >= added_from:
            transfers_after += len(block.txs)
    assert new_signed and min(new_signed) >= added_from
    assert transfers_after > 0  # the load kept committing across the changes

    # Every node, the former full node included, serves the same blocks.
    for index in range(1, len(devnet.nodes)):
        for height in range(1, last + 1):
            assert block_and_commit(devnet.nodes[index].client, height)[0].hash == \
                block_and_commit(reference, height)[0].hash, (index, height)
    assert devnet.status(NEW_VALIDATOR).validator == new_key.address  # type: ignore[union-attr]
    assert devnet.status(REMOVED_VALIDATOR).validator == b""  # type: ignore[union-attr]


def _genesis_validators(devnet: Devnet) -> list[Validator]:
    from zonechain.node.config import load_genesis

    genesis = load_genesis(devnet.directory / "genesis.json")
    return [Validator(v.public_key, v.power) for v in genesis.validators]


# ---- freezing a contract -------------------------------------------------------------------


def test_a_frozen_contract_refuses_calls(pilot: Pilot) -> None:
    holder = pilot.account("bank-a-ops")
    with pilot.client() as client:
        token = deploy_token(pilot, client, [holder])
        proposed = client.propose(pilot.account("central-bank-admin"),
                                  governance.freeze_contract(token.address), timeout_s=WAIT_S)
        assert not proposed.executed  # ALL admin of central-bank,customs,regulator
        half = client.approve(pilot.account("customs-admin"), proposed.proposal_id,
                              timeout_s=WAIT_S)
        assert not half.executed
        caller = Contract(client, token.address, token.abi, key=holder, zone=ZONE)
        caller.transfer(Key.generate().address, 1)  # not frozen yet: the call succeeds
        done = client.approve(pilot.account("regulator-admin"), proposed.proposal_id,
                              timeout_s=WAIT_S)
        assert done.executed
        with pytest.raises(TransactionFailed) as refused:
            caller.transfer(Key.generate().address, 1)
        assert refused.value.receipt.error_code == "contract_frozen"
        assert caller.balance_of(holder.address) == LOAD_FUNDS - 1  # queries still read it
        with pytest.raises(TransactionFailed) as again:  # already frozen: refused at proposal
            client.propose(pilot.account("central-bank-admin"),
                           governance.freeze_contract(token.address), timeout_s=WAIT_S)
        assert again.value.receipt.error_code == "frozen_unchanged"
