#!/usr/bin/env bash
# Installs the Debian packages the tests use, once: a debootstrap root for the systemd test host, systemd-nspawn,
# a real HTTP proxy, Prometheus/promtool, gnupg and dpkg-deb for the stand-in agent package; buildah, jq and a
# static-capable gcc to build the test images (ensure-images.sh), containerd to import them, qemu-user-static for
# the other architecture's image (ensure-images.sh --multiarch; installing it registers nothing, as binfmt-support
# is not installed); socat for the real cluster's forwarders across network namespaces
# (test/harness/cluster/forwarder.ts). Idempotent: a machine that has them all does nothing (and needs no network).
set -euo pipefail
PACKAGES=(debootstrap systemd-container tinyproxy prometheus gnupg dpkg-dev openssl util-linux iproute2 curl
  buildah containerd jq gcc libc6-dev socat qemu-user-static)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "[ensure-packages] missing Debian packages: ${missing[*]} (run as root, or install them: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "[ensure-packages] installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# The packaged services must not run on their own: the tests start their own instances on loopback.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
