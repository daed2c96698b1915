#!/bin/sh
# The system packages docex's tests use beyond Python wheels, installed only when missing:
#   softhsm2  a real PKCS#11 token (SoftHSM2) for the key store on a token (docex/signing/hsm.py)
#   systemd   systemd-analyze, which checks the sample units in deploy/ as systemd reads them
#   chromium  the browser the web UI's tests drive with Playwright (executable_path, no download)
#   nodejs, npm  run the OpenID provider of the single sign-on tests (tests/oidc: oidc-provider,
#             pinned by its package-lock.json, installed there by `npm ci`)
# Debian and Ubuntu (apt-get); runs apt-get through sudo when not root.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
missing=""
command -v softhsm2-util >/dev/null 2>&1 || missing="$missing softhsm2"
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v node >/dev/null 2>&1 || command -v nodejs >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086 # $missing is a list of package names
    $sudo apt-get install -y --no-install-recommends $missing ||
        { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends $missing; }
fi
if [ ! -d "$here/tests/oidc/node_modules/oidc-provider" ]; then
    (cd "$here/tests/oidc" && npm ci --no-audit --no-fund)
fi
