"""A real systemd 252 in a throw-away systemd-nspawn container, for tests/test_nspawn.py."""
