"""Self-signed certificates for 127.0.0.1, made by the openssl CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_certificate(folder: Path, name: str = "cert", common_name: str = "127.0.0.1",
                     ) -> tuple[Path, Path]:
    """(certificate, key) PEM files in ``folder``, valid for IP 127.0.0.1 for two days."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={common_name}", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key
