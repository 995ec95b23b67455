#!/usr/bin/env bash
# Install everything the tests need, then run them: bash tests/run.sh [pytest args]
# Debian packages (apt-get, as root or through sudo), a venv in .venv with the
# project and its test extras, npm clients in tests/interop. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  python3-venv curl openssl gcc pkg-config
  systemd systemd-container wrk nginx haproxy
  libxmlrpc-core-c3-dev librpc-xml-perl libxmlrpc-lite-perl libjson-rpc-perl libwww-perl
  ruby ruby-xmlrpc php-cli php-xmlrpc nodejs npm
  aria2  # bench/: the native anchor (aria2c --enable-rpc), in the smoke run too
)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  case "$package" in
    nodejs|npm) command -v "${package/nodejs/node}" >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/run.sh: installing Debian packages: ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=900 update -qq
  # systemd-container must match the installed systemd, or apt upgrades systemd itself.
  pinned=()
  for package in "${missing[@]}"; do
    if [ "$package" = systemd-container ] && dpkg-query -W systemd >/dev/null 2>&1; then
      pinned+=("systemd-container=$(dpkg-query -W -f='${Version}' systemd)")
    else
      pinned+=("$package")
    fi
  done
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
    "${pinned[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'

if [ -f tests/interop/package.json ]; then
  (cd tests/interop && npm install --no-audit --no-fund --silent)
fi

exec .venv/bin/python -m pytest "$@"
