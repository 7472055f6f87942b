#!/usr/bin/env bash
# Installs the AWS API emulator the tests and the demo run against (moto's server, pinned)
# into .venv/ of this checkout. Safe to run again: it does nothing when the pinned version is
# already there.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
VENV=.venv

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$MOTO_VERSION" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(0 if version("moto") == sys.argv[1] else 1)
PY
  exit 0
fi

echo "setup-emulator: installing moto[server]==$MOTO_VERSION into $VENV" >&2
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
