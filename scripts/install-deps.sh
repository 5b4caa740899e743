#!/usr/bin/env bash
# Installs the Debian packages ringlb needs, and says which ones it installs.
# Usage: scripts/install-deps.sh [--bench] [--browser]
#   --bench adds wrk, haproxy, nginx; --browser adds Chromium (the dashboard's test)
set -euo pipefail

pkgs=(gcc make liburing-dev libssl-dev libinih-dev libcmocka-dev libc-ares-dev python3 iproute2)
for arg in "$@"; do
  case "$arg" in
    --bench) pkgs+=(wrk haproxy nginx-light) ;;
    --browser) pkgs+=(chromium) ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present (${pkgs[*]})"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "install-deps: could not install them; run: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
# The Debian haproxy and nginx packages start system services; the benchmark
# runs its own instances, so stop those if they came up.
for svc in haproxy nginx; do
  if printf '%s\n' "${missing[@]}" | grep -q "^$svc"; then
    $sudo service "$svc" stop >/dev/null 2>&1 || true
  fi
done
echo "install-deps: done"
