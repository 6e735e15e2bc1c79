"""The letter-of-credit contract: letter_of_credit.zig and its ABI file (package data)."""
