"""The equity settlement contract: equity_settlement.zig and its ABI file (package data)."""
