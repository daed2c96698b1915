#!/bin/sh
# The system packages docex's tests use beyond Python wheels, installed only when missing:
#   softhsm2  a real PKCS#11 token (SoftHSM2) for the key store on a token (docex/signing/hsm.py)
#   systemd   systemd-analyze, which checks the sample units in deploy/ as systemd reads them
#   chromium  the browser the web UI's tests drive with Playwright (executable_path, no download)
# Debian and Ubuntu (apt-get); runs apt-get through sudo when not root.
set -eu
missing=""
command -v softhsm2-util >/dev/null 2>&1 || missing="$missing softhsm2"
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # $missing is a list of package names
$sudo apt-get install -y --no-install-recommends $missing ||
    { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends $missing; }
