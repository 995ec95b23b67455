"""Building the compiled client programs (Java, Go, C++) once, and reusing the build.

Each build lands in ``tests/interop/build/<name>-<key>/`` (ignored by git),
where the key hashes the sources, the command and the versions of the Debian
packages it builds against: a repeated run reuses it, a changed source or an
upgraded library rebuilds it. A build runs in a scratch directory that is
renamed into place only when it succeeded, so a failed or interrupted build
never leaves a half-built program behind to be reused.

A missing compiler or library fails the test with the apt-get command that
installs it (tests/run.sh installs them all); nothing is skipped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.interop.clients import APT, HERE, require_tool

BUILD_ROOT = HERE / "build"
BUILD_TIMEOUT = 300
GOPATH = Path("/usr/share/gocode")  # where Debian's golang-*-dev packages put Go sources
JAVA_SHARE = Path("/usr/share/java")


def package_versions(packages: tuple[str, ...]) -> str:
    """The installed versions of ``packages``; fails naming any that is missing."""
    versions = []
    for package in packages:
        probe = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                               capture_output=True, text=True, timeout=30)
        if probe.returncode != 0 or not probe.stdout:
            pytest.fail(f"Debian package {package} is not installed: {APT} {package}",
                        pytrace=False)
        versions.append(f"{package}={probe.stdout}")
    return " ".join(versions)


def cached_build(name: str, sources: list[Path], packages: tuple[str, ...],
                 command: list[str], env: dict[str, str] | None = None) -> Path:
    """Run ``command`` (``{out}`` is the output directory) unless an identical build exists."""
    key = hashlib.sha256()
    for source in sources:
        key.update(source.read_bytes())
    key.update("\0".join(command).encode())
    key.update(package_versions(packages).encode())
    target = BUILD_ROOT / f"{name}-{key.hexdigest()[:16]}"
    if target.is_dir():
        return target
    BUILD_ROOT.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=BUILD_ROOT))
    try:
        argv = [part.replace("{out}", str(scratch)) for part in command]
        built = subprocess.run(argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                               cwd=HERE, env={**os.environ, **(env or {})})
        assert built.returncode == 0, f"building {name} failed:\n{built.stdout}{built.stderr}"
        for stale in BUILD_ROOT.glob(f"{name}-*"):  # earlier keys of the same program
            if not stale.name.startswith("."):
                shutil.rmtree(stale, ignore_errors=True)
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def config_flags(tool: str, *args: str) -> list[str]:
    """Compiler and linker flags from pkg-config or xmlrpc-c-config."""
    found = subprocess.run([tool, *args], capture_output=True, text=True, timeout=30)
    assert found.returncode == 0, f"{tool} {' '.join(args)}: {found.stderr}"
    return found.stdout.split()


def xmlrpc_c_flags(package: str, *args: str) -> list[str]:
    """The flags xmlrpc-c-config gives, without -lcurl.

    Debian's xmlrpc-c-config prints -lcurl, but the xmlrpc-c -dev packages do not
    pull in libcurl's development link; libxmlrpc_client.so links libcurl.so.4
    itself, and the programs call no curl function.
    """
    config = require_tool("xmlrpc-c-config", f"{APT} {package}")
    return [flag for flag in config_flags(config, *args) if flag != "-lcurl"]


def build_cpp(name: str, source: str, packages: tuple[str, ...], flags: list[str],
              standard: str = "c++17") -> Path:
    """One program from one source file (and json_text.hpp, which some include)."""
    gxx = require_tool("g++", f"{APT} g++")
    out = cached_build(name, [HERE / source, HERE / "json_text.hpp"], packages, [
        gxx, f"-std={standard}", "-Wall", "-Wextra", "-Werror", "-O1", str(HERE / source),
        "-o", "{out}/" + name, *flags])
    return out / name


def build_c(name: str, source: str, package: str, flags: list[str]) -> Path:
    gcc = require_tool("gcc", f"{APT} gcc")
    out = cached_build(name, [HERE / source], (package,), [
        gcc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1", str(HERE / source),
        "-o", "{out}/" + name, *flags])
    return out / name


def build_go(name: str, source: str, package: str, import_path: str) -> Path:
    """Build against the Debian source tree: GOPATH mode, no module download."""
    go = require_tool("go", f"{APT} golang-go")
    if not (GOPATH / "src" / import_path).is_dir():
        pytest.fail(f"{import_path} is not in {GOPATH}: {APT} {package}", pytrace=False)
    BUILD_ROOT.mkdir(exist_ok=True)
    env = {"GOPATH": str(GOPATH), "GO111MODULE": "off", "GOFLAGS": "", "GOPROXY": "off",
           "GOCACHE": str(BUILD_ROOT / "gocache")}
    sources = [HERE / source, HERE / "go_lines.go"]
    out = cached_build(name, sources, ("golang-go", package),
                       [go, "build", "-o", "{out}/" + name, *map(str, sources)], env)
    return out / name


def build_java(name: str, source: str, jar: str, package: str) -> list[str]:
    """Compile one class against a jar from /usr/share/java; return the java command."""
    javac = require_tool("javac", f"{APT} default-jdk-headless")
    java = require_tool("java", f"{APT} default-jdk-headless")
    library = JAVA_SHARE / jar
    if not library.is_file():
        pytest.fail(f"{library} is missing: {APT} {package}", pytrace=False)
    out = cached_build(name, [HERE / source], ("default-jdk-headless", package), [
        javac, "-encoding", "UTF-8", "-Xlint:all", "-Werror", "-cp", str(library),
        "-d", "{out}", str(HERE / source)])
    return [java, "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", f"{out}:{library}",
            Path(source).stem]
