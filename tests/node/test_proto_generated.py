"""The generated protobuf modules: importable in the package, deterministic to regenerate,
and declaring the services the node and consensus implement."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"


def test_generated_modules_import_inside_the_package() -> None:
    from zonechain.proto import services_pb2, services_pb2_grpc, types_pb2

    assert types_pb2.DESCRIPTOR.package == "zonechain.v1"
    assert services_pb2.DESCRIPTOR.dependencies[0].name == "zonechain/proto/types.proto"
    assert hasattr(services_pb2_grpc, "ClientStub")
    assert hasattr(services_pb2_grpc, "PeerServicer")


def test_services_declare_the_expected_methods() -> None:
    from zonechain.proto import services_pb2

    client = services_pb2.DESCRIPTOR.services_by_name["Client"]
    methods = {m.name: (m.client_streaming, m.server_streaming) for m in client.methods}
    assert methods == {
        "SubmitTransaction": (False, False),
        "SubmitTransactions": (True, False),
        "SubmitTransactionBatch": (False, False),
        "GetTransaction": (False, False),
        "GetReceipt": (False, False),
        "GetBlock": (False, False),
        "Status": (False, False),
        "Query": (False, False),
        "StreamBlocks": (False, True),
        "StreamEvents": (False, True),
        "Simulate": (False, False),
    }
    peer = services_pb2.DESCRIPTOR.services_by_name["Peer"]
    assert {m.name for m in peer.methods} == {
        "Consensus", "GossipTransactions", "PeerStatus", "SyncBlocks"
    }


def load_generator(monkeypatch: pytest.MonkeyPatch) -> object:
    """setup.py's generate_protobuf_modules, loaded without running setup()."""
    setuptools = importlib.import_module("setuptools")  # untyped: no stubs installed
    monkeypatch.setattr(setuptools, "setup", lambda **_: None)
    spec = importlib.util.spec_from_file_location("zonechain_setup_under_test", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_protobuf_modules


def test_regeneration_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate = load_generator(monkeypatch)
    for source in sorted(PROTO.glob("*.proto")):
        shutil.copyfile(source, tmp_path / source.name)
    generate(tmp_path)  # type: ignore[operator]
    generated = sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".proto")
    assert "types_pb2.py" in generated and "services_pb2_grpc.py" in generated
    for name in generated:
        installed = PROTO / name
        assert installed.exists(), f"{name} missing from proto/: reinstall (pip install -e .)"
        assert (tmp_path / name).read_bytes() == installed.read_bytes(), name
