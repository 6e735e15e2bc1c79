"""Build glue that pyproject.toml cannot express.

1. The top-level folders (vm/, node/, proto/, sdk/, contracts/, benchmarks/)
   install under the one import namespace ``zonechain``: every folder below
   them that holds an ``__init__.py`` becomes ``zonechain.<folder>.<...>``.
2. The protobuf modules are generated from ``proto/*.proto`` at build time
   (both ``pip install .`` and ``pip install -e .``), so generated code is never
   committed. protoc is run on a staging tree laid out as ``zonechain/proto/``,
   which makes the generated imports absolute within our package
   (``from zonechain.proto import types_pb2``) instead of the bare
   ``import types_pb2`` that breaks inside a package.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
NAMESPACE = "zonechain"
TOP_LEVEL_FOLDERS = ("vm", "node", "proto", "sdk", "contracts", "benchmarks")
# Non-Python files shipped inside the packages (contract sources, ABI files,
# the .proto sources themselves, the genesis template, typing marker).
PACKAGE_DATA_PATTERNS = [
    "*.proto", "*.pyi", "*.zig", "*.h", "*.c", "*.json", "*.toml", "*.wat", "*.md", "py.typed",
]


def generate_protobuf_modules(proto_dir: Path) -> None:
    """Run protoc over proto/*.proto, writing *_pb2.py / *_pb2_grpc.py / *.pyi beside them."""
    sources = sorted(proto_dir.glob("*.proto"))
    if not sources:
        return
    from grpc_tools import protoc  # build requirement; imported late on purpose

    with tempfile.TemporaryDirectory() as staging_name:
        staging = Path(staging_name)
        package_dir = staging / "in" / NAMESPACE / "proto"
        package_dir.mkdir(parents=True)
        for source in sources:
            shutil.copyfile(source, package_dir / source.name)
        out_dir = staging / "out"
        out_dir.mkdir()
        well_known = Path(protoc.__file__).resolve().parent / "_proto"
        arguments = [
            "grpc_tools.protoc",
            f"-I{staging / 'in'}",
            f"-I{well_known}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            *[f"{NAMESPACE}/proto/{source.name}" for source in sources],
        ]
        if protoc.main(arguments) != 0:
            raise RuntimeError("protoc failed on " + ", ".join(s.name for s in sources))
        for generated in sorted((out_dir / NAMESPACE / "proto").iterdir()):
            target = proto_dir / generated.name
            if not target.exists() or target.read_bytes() != generated.read_bytes():
                shutil.copyfile(generated, target)


class BuildPyWithProtobuf(build_py):
    """build_py that first generates the protobuf modules into proto/."""

    def run(self) -> None:
        generate_protobuf_modules(ROOT / "proto")
        super().run()


def discover_packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for folder in TOP_LEVEL_FOLDERS:
        base = ROOT / folder
        for init in sorted(base.rglob("__init__.py")):
            relative = init.parent.relative_to(ROOT)
            skipped = {"build", "__pycache__"}
            if any(part.startswith(".") or part in skipped for part in relative.parts):
                continue
            name = ".".join((NAMESPACE, *relative.parts))
            packages.append(name)
            package_dir[name] = relative.as_posix()
    return packages, package_dir


_packages, _package_dir = discover_packages()
setup(
    packages=_packages,
    package_dir=_package_dir,
    package_data={name: PACKAGE_DATA_PATTERNS for name in _packages},
    include_package_data=False,
    cmdclass={"build_py": BuildPyWithProtobuf},
)
