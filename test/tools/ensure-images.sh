#!/usr/bin/env bash
# Builds, once per content, the OCI image archives the test cluster's nodes import with
# `ctr -n k8s.io images import`, without a registry or a Docker engine, and prints on stdout ONE line: the
# directory holding them (progress goes to stderr):
#
#   ssm-agent-operator.oci.tar  the repository's own Dockerfile, built as it is (buildah bud), tagged $APP_IMAGE
#   pause.oci.tar               the pod sandbox image (test/tools/pause.c, static), tagged $PAUSE_IMAGE
#   refs.env                    APP_IMAGE=… PAUSE_IMAGE=… APP_IMAGE_BYTES=… APP_IMAGE_UNPACKED_BYTES=… (sourceable)
#
# - Cached outside the repo in ${SSM_OPERATOR_CACHE:-$HOME/.cache/ssm-agent-operator}/images/<key>/, where <key>
#   hashes the working-tree content of everything the image is made of (Dockerfile, .dockerignore, package.json,
#   package-lock.json, operator/, node-agent/), this script, pause.c and the base image's key. The key is also
#   the app image's tag, so a code change is a new tag. Same inputs: the path is printed, nothing is rebuilt,
#   no network is used. The newest 3 app entries are kept, and any used in the last hour.
# - No registry is reachable, so the Dockerfile's base (node:24-bookworm-slim) is made locally, the same way the
#   official image is: a `debootstrap --variant=minbase bookworm` root from the mirror apt uses here, slimmed like
#   debian:bookworm-slim, plus the official Node distribution (the npm registry's node-linux-<arch> package, the
#   version the `node` devDependency pins) and the npm that Node release bundles, in /usr/local; the official
#   image's `node` user and docker-entrypoint.sh. It is cached separately (images/base/<base key>/, key: suite,
#   mirror, Node and npm versions, this script) since it takes minutes, and given to the build with
#   --build-arg NODE_IMAGE=localhost/ssm-test/node:24-bookworm-slim.
# - The build's RUN steps reach the Debian mirror (apt-get) and the npm registry (npm ci), like any image build.
# - Every build runs in a temporary directory next to the cache entry with its own buildah storage (vfs,
#   --isolation chroot, its own --root/--runroot/TMPDIR, never /var/lib/containers) and is renamed into place;
#   an interrupted build leaves nothing behind that the next run does not sweep. Concurrent runs wait on a lock.
# - With --multiarch it also builds the same Dockerfile for the other of amd64/arm64 (its own debootstrap base of
#   that architecture and that architecture's Node, `buildah bud --arch`), every RUN step executed by qemu-user
#   through a binfmt_misc registration (see ensure_binfmt below), and writes one OCI image index listing
#   linux/amd64 and linux/arm64, the host's instance being the very manifest of ssm-agent-operator.oci.tar (same
#   digest). Cached in ${SSM_OPERATOR_CACHE:-...}/images-multiarch/<key>/ (the same <key>: the index is tagged
#   $APP_IMAGE too) and printed instead of the host entry, which is built first if missing:
#     ssm-agent-operator.multiarch.oci.tar  the index, named $APP_IMAGE
#     refs.env                              APP_IMAGE=… PLATFORMS=… <ARCH>_MANIFEST=… FOREIGN_*_SECONDS=…
#   The cluster never uses it: it imports the host archive above, whose key, tag and content stay as they are.
# Needs root (debootstrap, buildah as root), buildah, debootstrap, gcc (static glibc), npm, flock, sha256sum;
# --multiarch also qemu-user-static (Debian's, for its /usr/lib/binfmt.d entry) and a kernel with binfmt_misc.
set -euo pipefail
MODE=host
case "${1:-}" in
  '') ;;
  --multiarch) MODE=multiarch ;;
  *) echo "usage: $0 [--multiarch]" >&2; exit 2 ;;
esac

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
REPO="$(cd "$HERE/../.." && pwd)"
SUITE=bookworm
BASE_IMAGE="localhost/ssm-test/node:24-bookworm-slim"
PAUSE_IMAGE="localhost/ssm-test/pause:1"
APP_REPO="localhost/ssm-agent-operator"
KEEP_APP=3
KEEP_BASE=4 # two recipes' worth of bases, each for amd64 and arm64
CACHE="${SSM_OPERATOR_CACHE:-$HOME/.cache/ssm-agent-operator}/images"
MCACHE="${SSM_OPERATOR_CACHE:-$HOME/.cache/ssm-agent-operator}/images-multiarch"
KEEP_MULTI=2

log() { echo "[ensure-images] $*" >&2; }

# The first http(s) mirror apt uses for "$SUITE ... main" (deb822 .sources or one-line .list files); the same
# lookup as ensure-rootfs.sh, so the base image and the test hosts come from the same archive.
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

# --- keys (cheap: this is all a warm run does) ---
MIRROR="$(find_mirror | head -n1)"
if [ -z "$MIRROR" ]; then
  log "no http(s) mirror for '$SUITE' found in /etc/apt/sources.list{,.d}; set SSM_DEBIAN_MIRROR"
  exit 1
fi
# The Node release the repo pins (the `node` devDependency), read from the lockfile without running node.
NODE_VERSION="$(awk '/^    "node_modules\/node": \{/ { f = 1; next } f && /"version":/ { gsub(/[",]/, "", $2); print $2; exit }' \
  "$REPO/package-lock.json")"
[[ "$NODE_VERSION" =~ ^24\.[0-9]+\.[0-9]+$ ]] || { log "no Node 24 version for node_modules/node in package-lock.json (got '$NODE_VERSION')"; exit 1; }
case "$(uname -m)" in
  x86_64) ARCH=amd64 NODE_ARCH=x64 FOREIGN_ARCH=arm64 FOREIGN_NODE_ARCH=arm64 FOREIGN_QEMU=aarch64 ;;
  aarch64) ARCH=arm64 NODE_ARCH=arm64 FOREIGN_ARCH=amd64 FOREIGN_NODE_ARCH=x64 FOREIGN_QEMU=x86_64 ;;
  *) log "unsupported machine $(uname -m)"; exit 1 ;;
esac
HOST_ARCH="$ARCH" HOST_NODE_ARCH="$NODE_ARCH"
# The base's key covers only its recipe (the lines between the BASE RECIPE markers), so editing the rest of this
# script rebuilds the app image (the key below hashes the whole script) but not the slow base.
BASE_RECIPE_HASH="$(sed -n '/^# >>> BASE RECIPE/,/^# <<< BASE RECIPE/p' "$SELF" | sha256sum | cut -c1-64)"
BASE_KEY="$(printf '%s\n' "$SUITE" "$MIRROR" "$NODE_VERSION" "$ARCH" "$BASE_RECIPE_HASH" | sha256sum | cut -c1-16)"
HOST_BASE_KEY="$BASE_KEY"
FOREIGN_BASE_KEY="$(printf '%s\n' "$SUITE" "$MIRROR" "$NODE_VERSION" "$FOREIGN_ARCH" "$BASE_RECIPE_HASH" | sha256sum | cut -c1-16)"
# Every file the build context can hold (the whole of operator/ and node-agent/, working-tree content, tracked or
# not; a superset of what .dockerignore lets through, so nothing that reaches the image escapes the key).
APP_KEY="$(
  cd "$REPO"
  {
    printf 'base %s\n' "$BASE_KEY"
    cat "$SELF" "$HERE/pause.c" | sha256sum
    find Dockerfile .dockerignore package.json package-lock.json operator node-agent \
      -name node_modules -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-16
)"
FINAL="$CACHE/$APP_KEY"
MFINAL="$MCACHE/$APP_KEY"
# Whether what this run prints exists (for --multiarch: the index and the host entry it is made from).
done_already() { [ -f "$FINAL/refs.env" ] && { [ "$MODE" = host ] || [ -f "$MFINAL/refs.env" ]; }; }
finish() {
  touch "$FINAL" 2>/dev/null || true # in use: the pruning below keeps the most recently used entries
  if [ "$MODE" = multiarch ]; then touch "$MFINAL" 2>/dev/null || true; echo "$MFINAL"; else echo "$FINAL"; fi
  exit 0
}
done_already && finish # refs.env is only ever created by the atomic renames below

# --- slow path: build ---
if [ "$(id -u)" -ne 0 ]; then
  log "building the test images needs root (debootstrap, buildah with --isolation chroot)"
  exit 1
fi
for tool in buildah debootstrap gcc npm flock unshare setpriv tar sha256sum; do
  command -v "$tool" >/dev/null || { log "missing $tool: run test/tools/ensure-packages.sh"; exit 1; }
done
QEMU_CONF="/usr/lib/binfmt.d/qemu-$FOREIGN_QEMU.conf"
if [ "$MODE" = multiarch ]; then
  [ -f "$QEMU_CONF" ] || { log "missing $QEMU_CONF (qemu-user-static): run test/tools/ensure-packages.sh"; exit 1; }
  # The whole build runs in a mount namespace of its own, so a binfmt_misc file system this run mounts is gone
  # when the run is, however it ends, and with it every entry the run added there (see ensure_binfmt).
  if [ -z "${SSM_IMAGES_PRIVATE_MOUNTS:-}" ]; then
    SSM_IMAGES_PRIVATE_MOUNTS=1 exec unshare --mount --propagation private -- bash "$SELF" "$@"
  fi
fi

mkdir -p "$CACHE/base"
exec 9>"$CACHE/.lock"
flock 9
done_already && finish # another run built it while we waited
# Anything left by an interrupted build (we hold the lock, so nobody is using it). debootstrap runs in its own
# mount namespace and buildah's vfs driver mounts nothing, so --one-file-system is only a second guard.
for stale in "$CACHE"/.tmp-* "$CACHE"/base/.tmp-* "$MCACHE"/.tmp-*; do
  [ -e "$stale" ] || continue
  log "removing an interrupted build: $stale"
  rm -rf --one-file-system "$stale"
done

TMPS=()
BINFMT=/proc/sys/fs/binfmt_misc
BINFMT_NAME="ssm-test-qemu-$FOREIGN_QEMU" # the entry this script registers, and the only one it ever removes
BINFMT_ADDED="" BINFMT_MOUNTED=""
cleanup() {
  local t
  for t in "${TMPS[@]}"; do rm -rf --one-file-system "$t"; done
  if [ -n "$BINFMT_ADDED" ] && [ -e "$BINFMT/$BINFMT_NAME" ]; then
    echo -1 >"$BINFMT/$BINFMT_NAME" || log "could not remove the binfmt_misc entry $BINFMT/$BINFMT_NAME"
  fi
  if [ -n "$BINFMT_MOUNTED" ]; then umount "$BINFMT" || log "could not unmount $BINFMT"; fi
}
trap cleanup EXIT
# A signal ends the script through exit, so the EXIT trap runs for it too.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# buildah with a private storage under $1 (vfs: works on any file system, needs no overlay mounts).
bah() {
  local dir="$1"
  shift
  TMPDIR="$dir/tmp" buildah --root "$dir/storage" --runroot "$dir/run" --storage-driver vfs "$@"
}

# Writes image $2 of the storage under $1 as the OCI archive $3, named $2 for containerd: `ctr images import`
# names an image after the index's io.containerd.image.name annotation (buildah writes only
# org.opencontainers.image.ref.name, which ctr 1.6 would drop as not carrying its import-<date> prefix).
export_oci() {
  local dir="$1" ref="$2" out="$3" layout="$1/layout-$RANDOM"
  bah "$dir" push --quiet "$ref" "oci:$layout:$ref" >&2
  local index
  index="$(jq -c --arg ref "$ref" \
    '.manifests |= map(.annotations = ((.annotations // {}) + {"io.containerd.image.name": $ref, "org.opencontainers.image.ref.name": $ref}))' \
    "$layout/index.json")"
  printf '%s\n' "$index" >"$layout/index.json"
  tar -C "$layout" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$out" oci-layout index.json blobs
  rm -rf "$layout"
}
command -v jq >/dev/null || { log "missing jq: run test/tools/ensure-packages.sh"; exit 1; }

# The base image of $ARCH (Node's $NODE_ARCH build), built once into $CACHE/base/$BASE_KEY/.
ensure_base() {
# >>> BASE RECIPE: the base image, node:24-bookworm-slim made locally (its key hashes this part of the script)
BASE_DIR="$CACHE/base/$BASE_KEY"
BASE_TAR="$BASE_DIR/node.oci.tar"
if [ ! -f "$BASE_TAR" ]; then
  started=$SECONDS
  BT="$(mktemp -d "$CACHE/base/.tmp-$BASE_KEY-XXXXXX")"
  TMPS+=("$BT")
  chmod 755 "$BT"
  mkdir -p "$BT/tmp" "$BT/npm"
  log "base image: Node $NODE_VERSION (npm registry: node-linux-$NODE_ARCH)"
  (cd "$BT/npm" && npm pack --silent "node-linux-$NODE_ARCH@$NODE_VERSION" >/dev/null)
  mkdir "$BT/node"
  tar -C "$BT/node" --strip-components=1 -xzf "$BT/npm/node-linux-$NODE_ARCH-$NODE_VERSION.tgz"
  # The package ships only bin/node: take the npm that this Node release bundles (its changelog names it).
  NPM_VERSION="$(grep -m1 -oE 'upgrade npm to [0-9]+\.[0-9]+\.[0-9]+' "$BT/node/CHANGELOG.md" | awk '{print $4}')"
  [ -n "$NPM_VERSION" ] || { log "cannot tell which npm Node $NODE_VERSION bundles"; exit 1; }
  log "base image: npm $NPM_VERSION (the one Node $NODE_VERSION bundles)"
  (cd "$BT/npm" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)

  log "base image: debootstrap --variant=minbase $SUITE from $MIRROR (first run only; a few minutes)"
  R="$BT/root"
  if ! setpriv --pdeathsig KILL -- unshare --mount --propagation private -- \
    debootstrap --variant=minbase --arch="$ARCH" --components=main "$SUITE" "$R" "$MIRROR" >"$BT/debootstrap.log" 2>&1; then
    tail -n 40 "$BT/debootstrap.log" >&2
    [ -f "$R/debootstrap/debootstrap.log" ] && tail -n 40 "$R/debootstrap/debootstrap.log" >&2
    log "debootstrap failed"
    exit 1
  fi
  # Slim like debian:bookworm-slim: no docs, man pages or translations, now or from later apt-get installs.
  cat >"$R/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$R/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  find "$R/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$R/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$R"/usr/share/{man,groff,info,lintian,linda}/* "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin \
    "$R"/var/lib/apt/lists/* "$R"/var/log/*.log "$R"/var/log/apt/* "$R/debootstrap"
  find "$R/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  # /etc/apt/sources.list (debootstrap wrote it) names $MIRROR: the Dockerfile's `apt-get update` uses it.
  # Like the official image: Node in /usr/local, a `node` user 1000:1000, docker-entrypoint.sh.
  install -m 0755 "$BT/node/bin/node" "$R/usr/local/bin/node"
  [ -d "$BT/node/include/node" ] && mkdir -p "$R/usr/local/include" && cp -a "$BT/node/include/node" "$R/usr/local/include/"
  mkdir -p "$R/usr/local/lib/node_modules/npm"
  tar -C "$R/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner -xzf "$BT/npm/npm-$NPM_VERSION.tgz"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/local/bin/npx"
  cat >"$R/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e

# Run command with node if the first argument contains a "-" or is not a system command. The last
# part inside the "{}" is a workaround for the following bug in ash/dash:
# https://bugs.debian.org/cgi-bin/bugreport.cgi?bug=874264
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
EOF
  chmod 0755 "$R/usr/local/bin/docker-entrypoint.sh"
  chroot "$R" /usr/sbin/groupadd --gid 1000 node
  chroot "$R" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  rm -f "$R/var/log/"*.log
  got_node="$(chroot "$R" /usr/local/bin/node --version)"
  got_npm="$(chroot "$R" /usr/bin/env PATH=/usr/local/bin:/usr/bin:/bin npm --version)"
  [ "$got_node" = "v$NODE_VERSION" ] && [ "$got_npm" = "$NPM_VERSION" ] ||
    { log "base image: node $got_node / npm $got_npm, expected v$NODE_VERSION / $NPM_VERSION"; exit 1; }
  # What those two runs and debootstrap left behind (Node's compile cache in /tmp, npm's logs, debconf backups).
  rm -rf "$R"/tmp/* "$R"/tmp/.[!.]* "$R/root/.npm" "$R/root/.cache" "$R"/var/cache/debconf/*-old "$R/var/cache/ldconfig/aux-cache"
  tar -C "$R" --numeric-owner --xattrs -cf "$BT/rootfs.tar" .
  rm -rf --one-file-system "$R"

  ctr="$(bah "$BT" from --quiet scratch)"
  bah "$BT" add --quiet "$ctr" "$BT/rootfs.tar" / >/dev/null
  rm -f "$BT/rootfs.tar"
  bah "$BT" config --os linux --arch "$ARCH" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env NODE_VERSION="$NODE_VERSION" \
    --entrypoint '["docker-entrypoint.sh"]' --cmd node \
    --label org.opencontainers.image.description="Local stand-in for node:$NODE_VERSION-$SUITE-slim (ssm-agent-operator tests)" \
    --label ssm-test.base-key="$BASE_KEY" --label ssm-test.mirror="$MIRROR" --label ssm-test.npm-version="$NPM_VERSION" \
    "$ctr"
  bah "$BT" commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
  export_oci "$BT" "$BASE_IMAGE" "$BT/node.oci.tar"
  rm -rf --one-file-system "$BT/storage" "$BT/run" "$BT/tmp" "$BT/node"
  cat >"$BT/base.env" <<EOF
BASE_IMAGE=$BASE_IMAGE
NODE_VERSION=$NODE_VERSION
NPM_VERSION=$NPM_VERSION
MIRROR=$MIRROR
BASE_BUILD_SECONDS=$((SECONDS - started))
BASE_BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
  mv -T "$BT" "$BASE_DIR"
  log "base image built in $((SECONDS - started)) s: $BASE_TAR ($(du -h "$BASE_TAR" | cut -f1))"
  # Keep the newest $KEEP_BASE bases (the one just built is the newest).
  ls -1dt "$CACHE"/base/*/ 2>/dev/null | tail -n +$((KEEP_BASE + 1)) | while read -r old; do
    log "pruning old base $old"
    rm -rf --one-file-system "$old"
  done
fi
# <<< BASE RECIPE
touch "$BASE_DIR"
}

# --- the app image: the repository's Dockerfile, built as it is, over a base; and the pause image ---
APP_IMAGE="$APP_REPO:$APP_KEY"

# bud_app DIR [BUD ARGS...]: builds the Dockerfile over the base $BASE_TAR in the storage under DIR, tagged
# $APP_IMAGE, its log in DIR/build.log.
bud_app() {
  local dir="$1" started=$SECONDS base_id host_cafile
  shift
  base_id="$(bah "$dir" pull --quiet "oci-archive:$BASE_TAR" | tail -n1)"
  bah "$dir" tag "$base_id" "$BASE_IMAGE"
  log "app image ($ARCH): base loaded in $((SECONDS - started)) s"
  # This machine may reach the npm registry through a TLS-intercepting proxy whose CA only the host trusts (npm's
  # cafile setting). The build's `npm ci` gets that trust from bind mounts that exist only while RUN steps run and
  # are not committed to the image (like `docker build --secret`), so the Dockerfile stays the one users build.
  local build_mounts=()
  host_cafile="$(npm config get cafile 2>/dev/null || true)"
  if [ -n "$host_cafile" ] && [ -f "$host_cafile" ]; then
    # Mounted over /usr/local/etc, a directory the base already has (empty): a mount onto a path that does not
    # exist would leave an empty mount point file in the image. npm reads its global config from there.
    mkdir "$dir/npm-etc"
    cp "$host_cafile" "$dir/npm-etc/ssm-host-ca.crt"
    printf 'cafile=/usr/local/etc/ssm-host-ca.crt\n' >"$dir/npm-etc/npmrc"
    build_mounts+=(-v "$dir/npm-etc:/usr/local/etc:ro")
    log "app image ($ARCH): the build's npm trusts this machine's npm cafile ($host_cafile)"
  fi
  log "app image ($ARCH): buildah bud $* $REPO/Dockerfile -> $APP_IMAGE"
  if ! bah "$dir" bud --isolation chroot --pull=never --layers=false "${build_mounts[@]}" "$@" \
    --build-arg NODE_IMAGE="$BASE_IMAGE" -f "$REPO/Dockerfile" -t "$APP_IMAGE" "$REPO" >"$dir/build.log" 2>&1; then
    tail -n 60 "$dir/build.log" >&2
    log "buildah bud failed (full log above)"
    exit 1
  fi
}

# The host entry: the app image for this machine, the pause image, refs.env.
build_host_entry() {
  started=$SECONDS
  T="$(mktemp -d "$CACHE/.tmp-$APP_KEY-XXXXXX")"
  TMPS+=("$T")
  chmod 755 "$T"
  mkdir -p "$T/tmp" "$T/out"
  bud_app "$T"
  # The unpacked size: vfs keeps every layer as a full directory tree, so the image's top layer IS its root fs.
  top_layer="$(jq -r --arg ref "$APP_IMAGE" '.[] | select((.names // []) | index($ref)) | .layer' \
    "$T/storage/vfs-images/images.json" 2>/dev/null || true)"
  unpacked=""
  if [ -n "$top_layer" ] && [ -d "$T/storage/vfs/dir/$top_layer" ]; then
    unpacked="$(du -sb "$T/storage/vfs/dir/$top_layer" | cut -f1)"
  else
    log "app image: cannot find its top layer in the vfs storage; APP_IMAGE_UNPACKED_BYTES left empty"
  fi
  log "app image: built in $((SECONDS - started)) s; exporting the OCI archive"
  export_oci "$T" "$APP_IMAGE" "$T/out/ssm-agent-operator.oci.tar"

  gcc -static -Os -Wall -Wextra -o "$T/pause" "$HERE/pause.c"
  strip "$T/pause"
  ctr="$(bah "$T" from --quiet scratch)"
  bah "$T" copy --quiet --chmod 0755 "$ctr" "$T/pause" /pause >/dev/null
  bah "$T" config --os linux --arch "$ARCH" --entrypoint '["/pause"]' --user 65535:65535 \
    --label org.opencontainers.image.description="Pod sandbox for the ssm-agent-operator test cluster" "$ctr"
  bah "$T" commit --quiet --rm "$ctr" "$PAUSE_IMAGE" >/dev/null
  export_oci "$T" "$PAUSE_IMAGE" "$T/out/pause.oci.tar"

  cp "$T/build.log" "$T/out/build.log"
  app_seconds=$((SECONDS - started))
  cat >"$T/out/refs.env" <<EOT
APP_IMAGE=$APP_IMAGE
PAUSE_IMAGE=$PAUSE_IMAGE
APP_IMAGE_BYTES=$(stat -c %s "$T/out/ssm-agent-operator.oci.tar")
APP_IMAGE_UNPACKED_BYTES=$unpacked
APP_BUILD_SECONDS=$app_seconds
BASE_IMAGE=$BASE_IMAGE
BASE_KEY=$BASE_KEY
EOT
  mv -T "$T/out" "$FINAL"
  log "app image built in $app_seconds s: $FINAL ($(du -h "$FINAL/ssm-agent-operator.oci.tar" | cut -f1) archive, ${unpacked:-?} bytes unpacked)"
  # Keep the newest $KEEP_APP entries, and any used in the last hour (a run of the cluster suite from another
  # worktree may have it bind-mounted into its nodes right now; every use touches the entry).
  ls -1dt "$CACHE"/*/ 2>/dev/null | grep -v "/base/$" | tail -n +$((KEEP_APP + 1)) | while read -r old; do
    [ -n "$(find "${old%/}" -maxdepth 0 -mmin +60)" ] || continue
    log "pruning old app images $old"
    rm -rf --one-file-system "$old"
  done
}

# --- foreign architecture: qemu-user through binfmt_misc ---
# Makes sure the kernel hands $FOREIGN_ARCH executables to qemu-user, with the F flag (the interpreter is opened
# now, so it also serves inside the chroots of debootstrap and buildah). An enabled entry with that magic and F
# that exists already is used as it is. Otherwise this run registers $BINFMT_NAME from Debian's qemu-user-static
# line, and the EXIT trap removes it; binfmt_misc, if not mounted, is mounted in this run's own mount namespace
# (see the unshare above) and unmounted by the trap; if the run is killed, the namespace's end unmounts it, and
# the kernel drops a binfmt_misc file system's entries with it.
ensure_binfmt() {
  local line magic e
  if ! mountpoint -q "$BINFMT"; then
    mount -t binfmt_misc binfmt_misc "$BINFMT" || { log "cannot mount binfmt_misc on $BINFMT"; exit 1; }
    BINFMT_MOUNTED=1
  fi
  line="$(grep -m1 '^:' "$QEMU_CONF")"
  magic="$(printf '%s' "$line" | cut -d: -f5 | sed 's/\\x//g' | tr 'A-F' 'a-f')"
  [[ "$magic" =~ ^[0-9a-f]+$ ]] || { log "cannot read the magic of $QEMU_CONF"; exit 1; }
  if [ -e "$BINFMT/$BINFMT_NAME" ]; then # ours, from a run that was killed (we hold the lock)
    log "foreign architecture: removing the binfmt_misc entry $BINFMT_NAME an interrupted run left"
    echo -1 >"$BINFMT/$BINFMT_NAME"
  fi
  for e in "$BINFMT"/*; do
    case "${e##*/}" in register | status) continue ;; esac
    if [ "$(head -n1 "$e")" = enabled ] && grep -qx "magic $magic" "$e" && grep -q '^flags: .*F' "$e"; then
      log "foreign architecture: using the existing binfmt_misc entry ${e##*/} ($(sed -n 's/^interpreter //p' "$e"))"
      return
    fi
  done
  [ "$(cat "$BINFMT/status")" = enabled ] || { log "binfmt_misc is disabled here ($BINFMT/status)"; exit 1; }
  BINFMT_ADDED=1
  printf '%s\n' "$line" | sed "s/^:[^:]*:/:$BINFMT_NAME:/" >"$BINFMT/register"
  log "foreign architecture: registered $BINFMT_NAME ($(sed -n 's/^interpreter //p' "$BINFMT/$BINFMT_NAME"), removed on exit)"
}

# The descriptor (mediaType, digest, size, platform) of the one image of the OCI layout $1, its platform read
# from its config, which must say linux/$2.
image_descriptor() {
  local layout="$1" want="$2" desc config
  desc="$(jq -c '.manifests | if length == 1 then .[0] | {mediaType, digest, size} else error("not one image") end' "$layout/index.json")"
  config="$(jq -r '.config.digest' "$layout/blobs/sha256/$(jq -r '.digest | ltrimstr("sha256:")' <<<"$desc")")"
  config="$layout/blobs/sha256/${config#sha256:}"
  [ "$(jq -r '.os + "/" + .architecture' "$config")" = "linux/$want" ] ||
    { log "the $want image's config says $(jq -c '{os, architecture}' "$config")"; exit 1; }
  jq -c --argjson d "$desc" '$d + {platform: ({architecture, os} + (if .variant then {variant} else {} end))}' "$config"
}

# The index entry: $APP_IMAGE for both architectures, in one OCI archive; refs.env.
build_multiarch_entry() {
  local started=$SECONDS M L host_desc foreign_desc index digest base_seconds bud_seconds
  ensure_binfmt
  ARCH="$FOREIGN_ARCH" NODE_ARCH="$FOREIGN_NODE_ARCH" BASE_KEY="$FOREIGN_BASE_KEY"
  ensure_base
  base_seconds=$((SECONDS - started))
  mkdir -p "$MCACHE"
  M="$(mktemp -d "$MCACHE/.tmp-$APP_KEY-XXXXXX")"
  TMPS+=("$M")
  chmod 755 "$M"
  mkdir -p "$M/tmp" "$M/out"
  bud_app "$M" --platform "linux/$ARCH"
  bud_seconds=$((SECONDS - started - base_seconds))
  log "app image ($ARCH): built in $bud_seconds s; writing the index"
  L="$M/layout"
  bah "$M" push --quiet "$APP_IMAGE" "oci:$M/foreign:$APP_IMAGE" >&2
  foreign_desc="$(image_descriptor "$M/foreign" "$FOREIGN_ARCH")"
  mkdir "$L"
  tar -C "$L" -xf "$FINAL/ssm-agent-operator.oci.tar" # the host image, byte for byte: same manifest digest
  host_desc="$(image_descriptor "$L" "$HOST_ARCH")"
  cp -n "$M/foreign/blobs/sha256/"* "$L/blobs/sha256/" # content-addressed: a shared name is the same bytes
  index="$(jq -nc --argjson a "$host_desc" --argjson b "$foreign_desc" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: ([$a, $b] | sort_by(.platform.architecture))}')"
  printf '%s' "$index" >"$M/index.json"
  digest="sha256:$(sha256sum "$M/index.json" | cut -c1-64)"
  mv "$M/index.json" "$L/blobs/sha256/${digest#sha256:}"
  jq -nc --arg d "$digest" --argjson size "${#index}" --arg ref "$APP_IMAGE" \
    '{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $size,
      annotations: {"io.containerd.image.name": $ref, "org.opencontainers.image.ref.name": $ref}}]}' >"$L/index.json"
  tar -C "$L" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
    -cf "$M/out/ssm-agent-operator.multiarch.oci.tar" oci-layout index.json blobs
  cp "$M/build.log" "$M/out/build-$FOREIGN_ARCH.log"
  cat >"$M/out/refs.env" <<EOT
APP_IMAGE=$APP_IMAGE
PLATFORMS=$(jq -r '[.manifests[].platform | .os + "/" + .architecture] | join(",")' <<<"$index")
INDEX_DIGEST=$digest
$(tr 'a-z' 'A-Z' <<<"$HOST_ARCH")_MANIFEST=$(jq -r .digest <<<"$host_desc")
$(tr 'a-z' 'A-Z' <<<"$FOREIGN_ARCH")_MANIFEST=$(jq -r .digest <<<"$foreign_desc")
FOREIGN_ARCH=$FOREIGN_ARCH
FOREIGN_BASE_KEY=$FOREIGN_BASE_KEY
FOREIGN_BASE_SECONDS=$base_seconds
FOREIGN_BUD_SECONDS=$bud_seconds
MULTIARCH_BUILD_SECONDS=$((SECONDS - started))
EOT
  mv -T "$M/out" "$MFINAL"
  log "multi-arch index built in $((SECONDS - started)) s ($FOREIGN_ARCH base $base_seconds s, app $bud_seconds s): $MFINAL"
  ls -1dt "$MCACHE"/*/ 2>/dev/null | tail -n +$((KEEP_MULTI + 1)) | while read -r old; do
    log "pruning old multi-arch index $old"
    rm -rf --one-file-system "$old"
  done
}

[ -f "$FINAL/refs.env" ] || { ensure_base; build_host_entry; }
[ "$MODE" = host ] || build_multiarch_entry
finish
