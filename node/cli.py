"""The `zonechain` command line.

Each family of subcommands lives in its own module and registers itself here
through ``register(subparsers)``; this module only assembles them and turns
user mistakes into a one-line message and a meaningful exit code, never a
traceback.

Exit codes: 0 success, 1 the operation failed (e.g. a contract error), 2 bad
usage or bad input, 3 the node is unreachable or timed out, 4 verification of
a node's answer failed, 130 interrupted (the SDK commands map every SDK
exception to one of these: zonechain.sdk.cli.EXIT_CODES).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Modules that contribute subcommands. Each defines
# ``register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None``
# and sets ``handler=`` (a callable taking the parsed namespace, returning an exit code).
COMMAND_MODULES = (
    "zonechain.node.demo",
    "zonechain.node.contract_cli",
    "zonechain.node.init_cli",
    "zonechain.node.node_cli",
    "zonechain.sdk.cli",
    "zonechain.node.bench_cli",
)


class UserError(Exception):
    """A mistake by the person at the terminal: printed as one line, exit code 2."""


Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zonechain",
        description="Permissioned smart-contract platform for regulated business zones.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    handler: Handler | None = getattr(arguments, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler(arguments)
    except UserError as error:
        print(f"zonechain {arguments.command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
