"""Helpers for the tests: plain modules, imported by tests and by the fixtures in conftest.py."""
