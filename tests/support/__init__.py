"""Helpers the tests share: test services and process fixtures."""
