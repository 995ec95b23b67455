"""HTTP Basic and bearer-token authentication against salted scrypt hashes.

Stored form: ``scrypt$N$r$p$SALT$HASH`` (salt and hash in base64), made by
``rpc-gateway hash-password``. Checking a password costs tens of
milliseconds by design, so a successful check is remembered (keyed by a
SHA-256 of the credentials, never the password) and repeated calls on
keep-alive connections cost a dictionary lookup. Comparisons are
constant-time, and an unknown user name costs the same scrypt as a wrong
password, so timing does not tell names apart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import threading
from collections import OrderedDict

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_HASH_FORMAT = re.compile(r"scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)")
_CACHE_SIZE = 1024


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 1024 * 1024, dklen=32)
    return "$".join(("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()))


def valid_hash(text: object) -> bool:
    return isinstance(text, str) and _HASH_FORMAT.fullmatch(text) is not None


def verify_secret(secret: str, stored: str) -> bool:
    match = _HASH_FORMAT.fullmatch(stored)
    if not match:
        return False
    n, r, p = (int(match[i]) for i in (1, 2, 3))
    salt, expected = base64.b64decode(match[4]), base64.b64decode(match[5])
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p,
                            maxmem=128 * 1024 * 1024, dklen=len(expected))
    return hmac.compare_digest(digest, expected)


class Authenticator:
    """Decides whether an ``Authorization`` header is acceptable."""

    def __init__(self, users: dict[str, str], tokens: tuple[str, ...], realm: str) -> None:
        self.users = users
        self.tokens = tokens
        self.realm = realm
        self.enabled = bool(users or tokens)
        self._decoy = _decoy_hash(next(iter(users.values()), None))
        self.failures = 0
        self._verified: OrderedDict[bytes, bool] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def challenge(self) -> str:
        schemes = []
        if self.users:
            schemes.append(f'Basic realm="{self.realm}", charset="UTF-8"')
        if self.tokens:
            schemes.append(f'Bearer realm="{self.realm}"')
        return ", ".join(schemes)

    def allows(self, authorization: str) -> bool:
        if not self.enabled:
            return True
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and self.users:
            return self._basic(value.strip())
        if scheme == "bearer" and self.tokens:
            return self._remembered(b"t" + value.strip().encode(),
                                    lambda: any(verify_secret(value.strip(), t)
                                                for t in self.tokens))
        return False

    def _basic(self, value: str) -> bool:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        stored = self.users.get(user) if sep else None
        if stored is None:
            # As slow as a wrong password, so the answer's timing does not tell which
            # user names exist: the same scrypt, against a hash nobody's password matches.
            stored = self._decoy
        return self._remembered(b"b" + value.encode(), lambda: verify_secret(password, stored)
                                and stored is not self._decoy)

    def _remembered(self, credentials: bytes, check) -> bool:
        key = hashlib.sha256(credentials).digest()
        with self._lock:
            if key in self._verified:
                self._verified.move_to_end(key)
                return True
        if not check():
            with self._lock:
                self.failures += 1
            return False
        with self._lock:
            self._verified[key] = True
            if len(self._verified) > _CACHE_SIZE:
                self._verified.popitem(last=False)
        return True


def _decoy_hash(model: str | None) -> str:
    """A hash with ``model``'s scrypt cost (the default cost without one) that no password
    matches: its digest is random, not derived from any secret."""
    match = _HASH_FORMAT.fullmatch(model or "")
    n, r, p = (match[1], match[2], match[3]) if match else (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    salt, digest = (base64.b64encode(os.urandom(size)).decode() for size in (16, 32))
    return f"scrypt${n}${r}${p}${salt}${digest}"
