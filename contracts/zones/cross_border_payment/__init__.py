"""The cross-border payment contract: cross_border_payment.zig and its ABI (package data)."""
