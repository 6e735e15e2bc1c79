"""The fungible token contract: token.zig and token.abi.json (package data, not Python)."""
