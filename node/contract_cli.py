"""`zonechain contract ...`: scaffold and build contracts.

    zonechain contract new NAME [--dir D] [--lang zig|c]
    zonechain contract build PATH [--out DIR]

``new`` creates ``D/NAME/`` (source, ABI file, a pytest test) that builds as
is. ``build`` compiles a contract folder (or its source file) with the pinned
Zig toolchain into ``DIR/NAME.wasm`` and ``DIR/NAME.abi.json`` (default
``DIR``: ``build/`` inside the contract folder) and prints the code hash.

Exit codes (node/cli.py): 0 built; 1 the build failed (a compile error, a
module that breaks the deploy rules; the compiler's message is shown);
2 bad input (no such contract, a broken ABI file, a bad name, an existing
folder). Never a traceback for any of these.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from zonechain.contracts.scaffold import ScaffoldError, scaffold
from zonechain.contracts.toolchain import (
    LANGUAGES,
    BadContractAbi,
    BuildError,
    ContractNotFound,
    build_contract,
    find_contract,
)
from zonechain.node.cli import EXIT_FAILED, EXIT_OK, UserError

DEFAULT_OUT_FOLDER = "build"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("contract", help="scaffold and build contracts")
    commands = parser.add_subparsers(dest="contract_command", metavar="SUBCOMMAND")
    parser.set_defaults(handler=lambda _arguments: _usage(parser))

    new = commands.add_parser("new", help="create a contract folder that builds and tests")
    new.add_argument("name", help="contract name: lower-case letters, digits and '_'")
    new.add_argument("--dir", default=".", help="parent folder (default: the current one)")
    new.add_argument("--lang", choices=LANGUAGES, default="zig", help="source language")
    new.set_defaults(handler=run_new)

    build = commands.add_parser("build", help="compile a contract to NAME.wasm + NAME.abi.json")
    build.add_argument("path", help="contract folder, or its .zig / .c source file")
    build.add_argument("--out", default=None,
                       help=f"output folder (default: {DEFAULT_OUT_FOLDER}/ in the contract "
                            "folder)")
    build.set_defaults(handler=run_build)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    raise UserError("a subcommand is required: new or build")


def run_new(arguments: argparse.Namespace) -> int:
    parent = Path(arguments.dir)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        folder = scaffold(arguments.name, parent, arguments.lang)
    except ScaffoldError as error:
        raise UserError(str(error)) from None
    except OSError as error:
        raise UserError(f"cannot create {parent}: {error.strerror}") from None
    print(f"created {folder}/")
    for item in sorted(folder.iterdir()):
        print(f"  {item.name}")
    print(f"build it:  zonechain contract build {folder}")
    print(f"test it:   python -m pytest {folder}")
    return EXIT_OK


def run_build(arguments: argparse.Namespace) -> int:
    try:
        contract = find_contract(arguments.path)
    except ContractNotFound as error:
        raise UserError(str(error)) from None
    out_dir = Path(arguments.out) if arguments.out else contract.directory / DEFAULT_OUT_FOLDER
    try:
        result = build_contract(contract.source, out_dir)
    except BadContractAbi as error:
        raise UserError(str(error)) from None
    except BuildError as error:
        print(f"zonechain contract build: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"built {result.name} ({len(result.code)} bytes, "
          f"{len(result.abi.methods)} methods)")
    print(f"  {result.wasm_path}")
    print(f"  {result.abi_out_path}")
    print(f"code hash: {result.code_hash}")
    return EXIT_OK
