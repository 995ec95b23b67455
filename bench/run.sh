#!/usr/bin/env bash
# The benchmark in one command: bash bench/run.sh [--smoke] [python -m bench options]
# Uses the project's venv (.venv, made by tests/run.sh) or $PYTHON; needs wrk (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then
  python="$PYTHON"
elif [ -x .venv/bin/python ]; then
  python=.venv/bin/python
else
  echo "bench/run.sh: no .venv; run 'bash tests/run.sh' once, or set PYTHON=/path/to/python" >&2
  exit 1
fi
command -v wrk >/dev/null || { echo "bench/run.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }
exec "$python" -m bench "$@"
