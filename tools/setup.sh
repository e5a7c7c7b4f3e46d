#!/usr/bin/env bash
# Create ./.venv (once), install the build tools, then lazyarr itself (editable, with its test
# extras). Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PATH="$PWD/.venv/bin:$PATH"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -U pip
.venv/bin/python -m pip install -q --disable-pip-version-check \
  "meson-python>=0.16" "meson>=1.4" ninja "cython>=3.0" "numpy>=2.0" "scipy>=1.11"
.venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation -e ".[test${EXTRAS:+,$EXTRAS}]"
