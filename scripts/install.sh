#!/usr/bin/env bash
# Installs what inferwatch needs to run, test and demo on a developer's or a fresh CI machine: the system packages
# (redis-server, a JDK and Maven when missing), the .venv with the package and its test extras, and the Kafka jars.
# Each step is skipped when already done, so a second run is a quick no-op.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
# pip runs again only when pyproject.toml changed since the last install into this venv
VENV_STAMP=.venv/.installed-from-pyproject

say() { echo "install: $*"; }
die() { echo "install: $*" >&2; exit 1; }

apt_install() {
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  say "apt-get install $*"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_system_packages() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v promtool >/dev/null || missing+=(prometheus) # promtool and prometheus for the dashboard tests
  command -v chromedriver >/dev/null || missing+=(chromium chromium-driver) # the web console's browser test
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

create_venv() {
  [[ -x .venv/bin/python ]] && return 0
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is $("$PYTHON" --version 2>&1); inferwatch needs Python >= 3.11 (set PYTHON=...)"
  say "creating .venv with $("$PYTHON" --version 2>&1)"
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv # Debian's own python3 has no ensurepip without python3-venv
    apt_install python3-venv
    "$PYTHON" -m venv .venv
  fi
}

install_package() {
  local want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  [[ -f $VENV_STAMP && $(<"$VENV_STAMP") == "$want" ]] && return 0
  say "pip install -e .[test] into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  echo "$want" >"$VENV_STAMP"
}

install_system_packages
create_venv
install_package
bash scripts/stack.sh jars
