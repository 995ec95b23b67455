"""Helpers for tests/test_scaleout.py: real load balancers, a client load, a counting service."""
