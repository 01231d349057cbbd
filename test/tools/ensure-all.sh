#!/usr/bin/env bash
# Everything the suite and the demo need, installed idempotently with caches outside the repo
# (${SSM_OPERATOR_CACHE:-~/.cache/ssm-agent-operator}): Debian packages first, then, side by side, the Kubernetes
# binaries + etcd + helm (Go builds: CPU-bound), the two root filesystems (debootstrap: network-bound) and the
# images (buildah). Prints how long each stage took, so a slow fresh machine shows where the time goes.
# A second run rebuilds nothing and takes seconds.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/ssm-ensure-all.XXXXXX")"
trap 'rm -rf "$LOGS"' EXIT

stage() { # name command… — runs in the background, logs to $LOGS/name.log, records its time
  local name=$1; shift
  ( start=$SECONDS
    if "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.log"; then echo "ok $((SECONDS - start))" >"$LOGS/$name.status"
    else echo "failed $((SECONDS - start))" >"$LOGS/$name.status"; fi ) &
}

start=$SECONDS
bash "$HERE/ensure-packages.sh"
echo "[ensure-all] packages: $((SECONDS - start)) s" >&2
stage tools bash "$HERE/ensure-tools.sh"
stage rootfs-host bash "$HERE/ensure-rootfs.sh"
stage rootfs-node bash "$HERE/ensure-rootfs.sh" node
stage images bash "$HERE/ensure-images.sh"
wait
failed=0
for name in tools rootfs-host rootfs-node images; do
  read -r result secs <"$LOGS/$name.status"
  echo "[ensure-all] $name: $result in $secs s" >&2
  if [ "$result" != ok ]; then
    failed=1
    tail -n 40 "$LOGS/$name.log" >&2
  fi
done
echo "[ensure-all] set-up took $((SECONDS - start)) s in all" >&2
exit "$failed"
