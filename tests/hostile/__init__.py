"""Helpers for the hostile-input tests: raw HTTP on sockets, the case catalogue, checks.

The tests that use them are ``tests/test_hostile.py`` (parsing and types),
``tests/test_limits.py`` (connections, timeouts, threads, memory) and
``tests/test_fuzz.py`` (hypothesis-driven request parsing).
"""
