#!/usr/bin/env bash
# Installs the Debian packages the project needs, and only when one is missing, so that
# repeated runs cost a few dpkg queries and no network. Safe to run again and again.
#
#   scripts/system-deps.sh          everything `make test` needs
#   scripts/system-deps.sh --base   only make and what `python3 -m venv` needs (`make run`)
set -euo pipefail

# The one list of Debian packages. Add new ones here.
#   postgresql  server binaries for the throwaway test cluster (tests/pg_fixture.py)
#   espeak-ng   synthesises speech for the speech-recognition tests
#   sox         converts and resamples that audio
#   chromium, chromium-driver  headless browser for the softphone test (tests/test_softphone.py)
PACKAGES=(postgresql espeak-ng sox chromium chromium-driver)
# The bare minimum to run make and build the virtualenv (a bare Debian python3 lacks ensurepip).
# These count as present when their probe passes, whatever provides them.
BASE_PACKAGES=(make python3-venv)
declare -A PROBE=(
  [make]="command -v make"
  [python3-venv]="python3 -c 'import ensurepip, venv'"
)

case "${1:-}" in
  "") wanted=("${BASE_PACKAGES[@]}" "${PACKAGES[@]}") ;;
  --base) wanted=("${BASE_PACKAGES[@]}") ;;
  *) echo "usage: $0 [--base]" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "system-deps: not a Debian system; install these yourself: ${wanted[*]}" >&2
  exit 0
fi

missing=()
for package in "${wanted[@]}"; do
  if [[ -n "${PROBE[$package]:-}" ]] && eval "${PROBE[$package]}" >/dev/null 2>&1; then
    continue
  fi
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  echo "system-deps: all present (${wanted[*]})"
  exit 0
fi

echo "system-deps: installing ${missing[*]}"
if ((EUID == 0)); then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo -n)
else
  echo "system-deps: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  --no-install-recommends "${missing[@]}"
