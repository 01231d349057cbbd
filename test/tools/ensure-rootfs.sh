#!/usr/bin/env bash
# Builds, once, a Debian root filesystem booted with systemd-nspawn, and prints its path on stdout (progress goes
# to stderr). Two flavours:
#   ensure-rootfs.sh        the systemd test host of the node-agent tests (test/harness/systemd-host.ts);
#   ensure-rootfs.sh node   a Kubernetes node of the real-cluster tests (test/harness/cluster/): the same plus
#                           containerd, runc, iptables, conntrack and the CNI plugins. kubelet and kube-proxy are
#                           not baked in (they are bound read-only from the tools cache, same version as the API
#                           server), nor is any configuration: the harness lays that over the root per node.
#
# - debootstrap --variant=minbase + what a node needs (systemd as init, dbus, sudo/visudo, useradd, …);
# - cached OUTSIDE the repo in ${SSM_OPERATOR_CACHE:-$HOME/.cache/ssm-agent-operator}/rootfs/<suite>-v<N>-<hash>,
#   keyed by the suite and by the package list + the customisation below (bump ROOTFS_VERSION when the
#   customisation changes); tests boot per-test copies, so the cached tree is never written to;
# - built in a temporary directory next to the cache entry and renamed into place, so an interrupted build never
#   leaves a half root filesystem behind; concurrent runs wait on a lock instead of building twice;
# - the mirror is the one apt uses on this machine (/etc/apt/sources.list, sources.list.d), or $SSM_DEBIAN_MIRROR.
# Idempotent: when the entry exists this prints its path and does nothing else (no network needed).
set -euo pipefail

SUITE="${SSM_ROOTFS_SUITE:-bookworm}"
FLAVOUR="${1:-host}"
ROOTFS_VERSION=1
PACKAGES=(systemd systemd-sysv dbus sudo passwd login ca-certificates procps)
case "$FLAVOUR" in
  host) PREFIX="" ;;
  # What kubelet, containerd and the CNI bridge need inside a node; util-linux and iproute2 for nsenter/ip.
  node) PREFIX="node-"; PACKAGES+=(containerd runc iptables conntrack containernetworking-plugins util-linux iproute2) ;;
  *) echo "[ensure-rootfs] unknown flavour '$FLAVOUR' (host or node)" >&2; exit 2 ;;
esac

CACHE="${SSM_OPERATOR_CACHE:-$HOME/.cache/ssm-agent-operator}/rootfs"
HASH="$(printf '%s\n' "$SUITE" "$ROOTFS_VERSION" "${PACKAGES[@]}" | sha256sum | cut -c1-8)"
KEY="${PREFIX}${SUITE}-v${ROOTFS_VERSION}-${HASH}"
FINAL="$CACHE/$KEY"

log() { echo "[ensure-rootfs] $*" >&2; }

# debootstrap (to build) and systemd-nspawn (to boot) come from Debian packages; this is quick when they are there.
bash "$(dirname "${BASH_SOURCE[0]}")/ensure-packages.sh" >&2

if [ -d "$FINAL" ]; then # only ever created by the atomic rename below
  echo "$FINAL"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "building the test root filesystem needs root (debootstrap)"
  exit 1
fi
for tool in debootstrap unshare setpriv flock; do
  command -v "$tool" >/dev/null || { log "missing $tool: run test/tools/ensure-packages.sh"; exit 1; }
done

# The first http(s) mirror apt uses for "$SUITE ... main" (deb822 .sources or one-line .list files).
find_mirror() {
  local f
  if [ -n "${SSM_DEBIAN_MIRROR:-}" ]; then echo "$SSM_DEBIAN_MIRROR"; return; fi
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      /^[[:space:]]*#/ { next }
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }   # skip [ options ]
        if ($(i + 1) == suite && $i ~ /^https?:\/\//) { print $i; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822: paragraphs separated by blank lines
    awk -v suite="$SUITE" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && enabled != "no") {
          n = split(uris, u, " ")
          for (k = 1; k <= n; k++) if (u[k] ~ /^https?:\/\//) { print u[k]; exit }
        }
        types = ""; uris = ""; suites = ""; enabled = ""
      }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "types:" { $1 = ""; types = $0 }
      tolower($1) == "uris:" { $1 = ""; uris = $0 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      tolower($1) == "enabled:" { enabled = tolower($2) }
      END { flush() }' "$f"
  done
}

mkdir -p "$CACHE"
# One lock per entry: the host and node flavours build side by side.
exec 9>"$CACHE/.lock-$KEY"
flock 9
if [ -d "$FINAL" ]; then # another run built it while we waited
  echo "$FINAL"
  exit 0
fi

# Anything left by an interrupted build (we hold the lock, so nobody is using it). debootstrap ran in its own
# mount namespace, so no /proc or /sys mount can be left inside; --one-file-system is a second guard.
for stale in "$CACHE"/.tmp-*; do
  [ -e "$stale" ] || continue
  log "removing an interrupted build: $stale"
  rm -rf --one-file-system "$stale"
done

MIRROR="$(find_mirror | head -n1)"
if [ -z "$MIRROR" ]; then
  log "no http(s) mirror for '$SUITE' found in /etc/apt/sources.list{,.d}; set SSM_DEBIAN_MIRROR"
  exit 1
fi

TMP="$(mktemp -d "$CACHE/.tmp-$KEY-XXXXXX")"
trap 'rm -rf --one-file-system "$TMP"' EXIT
chmod 755 "$TMP"
include="$(IFS=,; echo "${PACKAGES[*]}")"
log "debootstrap --variant=minbase --include=$include $SUITE from $MIRROR (first run only; a few minutes)"
started=$SECONDS
# A private mount namespace: the /proc, /sys, /dev mounts debootstrap makes in the target vanish with it, even if
# it is killed; and it dies with this script (pdeathsig) instead of writing on into a directory already given up.
if ! setpriv --pdeathsig KILL -- unshare --mount --propagation private -- \
  debootstrap --variant=minbase --include="$include" --components=main "$SUITE" "$TMP/root" "$MIRROR" \
  >"$TMP/debootstrap.log" 2>&1; then
  tail -n 40 "$TMP/debootstrap.log" >&2
  [ -f "$TMP/root/debootstrap/debootstrap.log" ] && tail -n 40 "$TMP/root/debootstrap/debootstrap.log" >&2
  log "debootstrap failed"
  exit 1
fi
R="$TMP/root"

# --- customisation (bump ROOTFS_VERSION when this changes) ---
# Every booted copy gets its own transient machine id (an empty file: systemd generates one at boot).
: >"$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$R/var/lib/dbus/machine-id"
# No interactive first-boot questions on a console nobody reads; no gettys on it either.
for unit in systemd-firstboot.service console-getty.service getty@tty1.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$unit"
done
if [ "$FLAVOUR" = node ]; then
  # A node has no outside network: nothing on it may wait for time sync or package lists. containerd starts only
  # once the harness's node-prep unit has made cgroups and /proc/sys/net writable (it is re-enabled by the
  # harness's drop-ins, not here).
  for unit in systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "$R/etc/systemd/system/$unit"
  done
  rm -f "$R/etc/systemd/system/multi-user.target.wants/containerd.service"
fi
# The host name is the machine name systemd-nspawn is given (-M), not one baked into the image.
rm -f "$R/etc/hostname"
# Keep the image small: package caches and lists are not needed (tests install local .deb files).
rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/*_* "$R"/var/log/*.log
# Sanity: the tools the node agent relies on are there.
TOOLS=(/usr/sbin/visudo /usr/sbin/useradd /usr/bin/systemctl /usr/bin/dpkg /usr/bin/sudo /lib/systemd/systemd)
[ "$FLAVOUR" = node ] && TOOLS+=(/usr/bin/containerd /usr/bin/ctr /usr/sbin/runc /usr/sbin/iptables /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback /usr/bin/nsenter /usr/sbin/ip)
for tool in "${TOOLS[@]}"; do
  [ -x "$R$tool" ] || { log "the root filesystem lacks $tool"; exit 1; }
done
cat >"$R/etc/ssm-test-rootfs" <<EOF
TEST ROOT FILESYSTEM for ssm-agent-operator (systemd-nspawn $FLAVOUR)
flavour=$FLAVOUR suite=$SUITE version=$ROOTFS_VERSION packages=${PACKAGES[*]}
mirror=$MIRROR built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
cp "$TMP/debootstrap.log" "$R/var/log/ssm-debootstrap.log"

mv -T "$R" "$FINAL"
log "built $FINAL in $((SECONDS - started)) s ($(du -sh --one-file-system "$FINAL" | cut -f1))"
echo "$FINAL"
