"""Accounts: registration and JWT tokens."""
