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
  chromium  # tests/test_browser.py: cross-site requests from a real browser (issue 9)
  libzmq3-dev g++ make  # zerorpc: zerorpc-node's zeromq addon is built against Debian's libzmq
  aria2 supervisor  # tests/test_bridge_*.py: real upstreams to bridge (issue 14); bench/: aria2 the native anchor
  # issue 12 clients (tests/interop): Java aXMLRPC, Go kolo/xmlrpc and mattn/go-xmlrpc,
  # C++ xmlrpc-c clientSimple, XmlRpc++ and libjson-rpc-cpp, Lua and Tcl
  default-jdk-headless libaxmlrpc-java golang-go golang-github-kolo-xmlrpc-dev golang-github-mattn-go-xmlrpc-dev
  g++ libxmlrpc-c++8-dev libxmlrpcpp-dev libjsonrpccpp-dev lua5.1 lua-xmlrpc tcl tcl-xmlrpc
  prometheus  # observability: promtool and a real Prometheus (chromium, above, shows the front page)
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
if [ -f tests/openrpc/package.json ]; then  # the OpenRPC meta-schema and its validator
  (cd tests/openrpc && npm install --no-audit --no-fund --silent)
fi

# zerorpc-node: zeromq's own install script downloads binaries and libzmq sources, which
# cannot work offline; install without scripts and build the addon against Debian's libzmq.
zerorpc_node=tests/interop/zerorpc-node
if [ -f "$zerorpc_node/package.json" ] && [ ! -f "$zerorpc_node/node_modules/zeromq/build/Release/zmq.node" ]; then
  # Debian's npm has node-gyp as its own package (/usr/bin/node-gyp); other npm builds bundle it.
  if command -v node-gyp >/dev/null; then
    node_gyp=(node-gyp)
  else
    node_gyp=(node "$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js")
  fi
  [ -f /usr/include/node/node.h ] || as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends libnode-dev >/dev/null
  (cd "$zerorpc_node" && npm install --ignore-scripts --no-audit --no-fund --silent &&
    cd node_modules/zeromq && npm_config_zmq_external=true "${node_gyp[@]}" rebuild \
      --zmq_external=true --nodedir=/usr --loglevel=error >/dev/null)
fi

exec .venv/bin/python -m pytest "$@"
