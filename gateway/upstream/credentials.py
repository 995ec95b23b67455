"""Secrets for upstreams: read from files or systemd credentials, never from the URL.

The values live only in the Authorization header the transport sends; they
are never part of ``UpstreamURL.display``, of an error message or of a log line.
"""

from __future__ import annotations

import base64
import os

from gateway.upstream.urls import UpstreamURL


def read_secret(path: str = "", credential: str = "") -> str:
    """The first line of a secret file (trailing newline dropped), or ValueError."""
    if credential:
        directory = os.environ.get("CREDENTIALS_DIRECTORY", "")
        if not directory:
            raise ValueError(f"credential {credential!r}: $CREDENTIALS_DIRECTORY is not set "
                             "(systemd sets it for LoadCredential=)")
        if "/" in credential or credential.startswith("."):
            raise ValueError(f"credential {credential!r}: a credential name, not a path")
        path = os.path.join(directory, credential)
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().rstrip("\r\n")
    except OSError as error:
        raise ValueError(f"cannot read the secret file {path!r}: {error.strerror}") from None


def authorization(url: UpstreamURL) -> str:
    """The Authorization header value for ``url``, or "" when it needs none."""
    token_file = url.option("token_file")
    if token_file:
        return "Bearer " + read_secret(token_file)
    user = url.option("user")
    password_file, credential = url.option("password_file"), url.option("credential")
    if not user and not (password_file or credential):
        return ""
    password = read_secret(password_file, credential) if password_file or credential else ""
    pair = f"{user}:{password}".encode("utf-8")
    return "Basic " + base64.b64encode(pair).decode("ascii")
