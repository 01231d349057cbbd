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
# Needs root (debootstrap, buildah as root), buildah, debootstrap, gcc (static glibc), npm, flock, sha256sum.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
REPO="$(cd "$HERE/../.." && pwd)"
SUITE=bookworm
BASE_IMAGE="localhost/ssm-test/node:24-bookworm-slim"
PAUSE_IMAGE="localhost/ssm-test/pause:1"
APP_REPO="localhost/ssm-agent-operator"
KEEP_APP=3
KEEP_BASE=2
CACHE="${SSM_OPERATOR_CACHE:-$HOME/.cache/ssm-agent-operator}/images"

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
  x86_64) ARCH=amd64 NODE_ARCH=x64 ;;
  aarch64) ARCH=arm64 NODE_ARCH=arm64 ;;
  *) log "unsupported machine $(uname -m)"; exit 1 ;;
esac
# The base's key covers only its recipe (the lines between the BASE RECIPE markers), so editing the rest of this
# script rebuilds the app image (the key below hashes the whole script) but not the slow base.
BASE_RECIPE_HASH="$(sed -n '/^# >>> BASE RECIPE/,/^# <<< BASE RECIPE/p' "$SELF" | sha256sum | cut -c1-64)"
BASE_KEY="$(printf '%s\n' "$SUITE" "$MIRROR" "$NODE_VERSION" "$ARCH" "$BASE_RECIPE_HASH" | sha256sum | cut -c1-16)"
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
if [ -f "$FINAL/refs.env" ]; then # only ever created by the atomic rename below
  touch "$FINAL" 2>/dev/null || true # in use: the pruning below keeps the most recently used entries
  echo "$FINAL"
  exit 0
fi

# --- slow path: build ---
if [ "$(id -u)" -ne 0 ]; then
  log "building the test images needs root (debootstrap, buildah with --isolation chroot)"
  exit 1
fi
for tool in buildah debootstrap gcc npm flock unshare setpriv tar sha256sum; do
  command -v "$tool" >/dev/null || { log "missing $tool: run test/tools/ensure-packages.sh"; exit 1; }
done

mkdir -p "$CACHE/base"
exec 9>"$CACHE/.lock"
flock 9
if [ -f "$FINAL/refs.env" ]; then # another run built it while we waited
  touch "$FINAL"
  echo "$FINAL"
  exit 0
fi
# Anything left by an interrupted build (we hold the lock, so nobody is using it). debootstrap runs in its own
# mount namespace and buildah's vfs driver mounts nothing, so --one-file-system is only a second guard.
for stale in "$CACHE"/.tmp-* "$CACHE"/base/.tmp-*; do
  [ -e "$stale" ] || continue
  log "removing an interrupted build: $stale"
  rm -rf --one-file-system "$stale"
done

TMPS=()
cleanup() {
  local t
  for t in "${TMPS[@]}"; do rm -rf --one-file-system "$t"; done
}
trap cleanup EXIT

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

# --- the app image: the repository's Dockerfile, built as it is, over that base; and the pause image ---
started=$SECONDS
T="$(mktemp -d "$CACHE/.tmp-$APP_KEY-XXXXXX")"
TMPS+=("$T")
chmod 755 "$T"
mkdir -p "$T/tmp" "$T/out"
APP_IMAGE="$APP_REPO:$APP_KEY"

base_id="$(bah "$T" pull --quiet "oci-archive:$BASE_TAR" | tail -n1)"
bah "$T" tag "$base_id" "$BASE_IMAGE"
log "app image: base loaded in $((SECONDS - started)) s"
# This machine may reach the npm registry through a TLS-intercepting proxy whose CA only the host trusts (npm's
# cafile setting). The build's `npm ci` gets that trust from bind mounts that exist only while RUN steps run and
# are not committed to the image (like `docker build --secret`), so the Dockerfile stays the one users build.
build_mounts=()
host_cafile="$(npm config get cafile 2>/dev/null || true)"
if [ -n "$host_cafile" ] && [ -f "$host_cafile" ]; then
  # Mounted over /usr/local/etc, a directory the base already has (empty): a mount onto a path that does not
  # exist would leave an empty mount point file in the image. npm reads its global config from there.
  mkdir "$T/npm-etc"
  cp "$host_cafile" "$T/npm-etc/ssm-host-ca.crt"
  printf 'cafile=/usr/local/etc/ssm-host-ca.crt\n' >"$T/npm-etc/npmrc"
  build_mounts+=(-v "$T/npm-etc:/usr/local/etc:ro")
  log "app image: the build's npm trusts this machine's npm cafile ($host_cafile)"
fi
log "app image: buildah bud $REPO/Dockerfile -> $APP_IMAGE"
if ! bah "$T" bud --isolation chroot --pull=never --layers=false "${build_mounts[@]}" \
  --build-arg NODE_IMAGE="$BASE_IMAGE" -f "$REPO/Dockerfile" -t "$APP_IMAGE" "$REPO" >"$T/build.log" 2>&1; then
  tail -n 60 "$T/build.log" >&2
  log "buildah bud failed (full log above)"
  exit 1
fi
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
cat >"$T/out/refs.env" <<EOF
APP_IMAGE=$APP_IMAGE
PAUSE_IMAGE=$PAUSE_IMAGE
APP_IMAGE_BYTES=$(stat -c %s "$T/out/ssm-agent-operator.oci.tar")
APP_IMAGE_UNPACKED_BYTES=$unpacked
APP_BUILD_SECONDS=$app_seconds
BASE_IMAGE=$BASE_IMAGE
BASE_KEY=$BASE_KEY
EOF
mv -T "$T/out" "$FINAL"
log "app image built in $app_seconds s: $FINAL ($(du -h "$FINAL/ssm-agent-operator.oci.tar" | cut -f1) archive, ${unpacked:-?} bytes unpacked)"
# Keep the newest $KEEP_APP entries, and any used in the last hour (a run of the cluster suite from another worktree
# may have it bind-mounted into its nodes right now; every use touches the entry).
ls -1dt "$CACHE"/*/ 2>/dev/null | grep -v "/base/$" | tail -n +$((KEEP_APP + 1)) | while read -r old; do
  [ -n "$(find "${old%/}" -maxdepth 0 -mmin +60)" ] || continue
  log "pruning old app images $old"
  rm -rf --one-file-system "$old"
done
echo "$FINAL"
