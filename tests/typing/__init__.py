"""Typed user code, checked by mypy (see tests/typing/usage.py); not a test module."""
