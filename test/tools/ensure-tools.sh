#!/usr/bin/env bash
# Provides the real binaries the tests and the demo need: kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet, kube-proxy and kubectl (one Kubernetes version for all, so the real-cluster nodes match the API server),
# etcd and helm.
# Built once from the Go module proxy and cached outside the repo, keyed by version; honours
# KUBEBUILDER_ASSETS (envtest layout: kube-apiserver and etcd in one folder) when it is set.
# Prints nothing but progress on stderr; prints the bin folder on stdout.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${SSM_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssm-agent-operator}"
BIN="$CACHE/bin"
mkdir -p "$BIN"
# Concurrent runs (two test processes, a test and the demo) wait for one build instead of racing each other.
exec 8>"$CACHE/.tools.lock"
flock 8

log() { printf '[ensure-tools] %s\n' "$*" >&2; }
need_go() { command -v go >/dev/null || { log "Go is required to build $1 (install Go >= 1.25 or set KUBEBUILDER_ASSETS)"; exit 1; }; }

export CGO_ENABLED=0 GOFLAGS=-mod=mod
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

build_k8s() {
  local out="$CACHE/k8s-$K8S_VERSION"
  local have=1 c
  for c in "${K8S_CMDS[@]}"; do [ -x "$out/$c" ] || have=0; done
  if [ "$have" = 1 ]; then echo "$out"; return; fi
  need_go kubernetes
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local staging="v0.${K8S_VERSION#v1.}"
  local mod="$CACHE/src/k8s-$K8S_VERSION"
  mkdir -p "$mod" "$out"
  log "building ${K8S_CMDS[*]} $K8S_VERSION from the Go module proxy (first run only, 15-25 minutes on 2 cores)"
  local modfile
  modfile=$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  {
    echo "module ssmagent.io/tools/k8s"
    echo "go 1.25"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    # Every staging module is replaced by its published twin; the list comes from kubernetes' own go.mod.
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$modfile" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } > "$mod/go.mod"
  local pkgs=() c
  for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$mod" && go get "${pkgs[@]/%/@$K8S_VERSION}" >&2)
  local pkg=k8s.io/component-base/version
  local ld="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  # One by one, each into a temporary name renamed into place: an interrupted build never leaves a broken binary,
  # and a second run builds only what is missing (the Go build cache makes the shared packages free).
  for c in "${K8S_CMDS[@]}"; do
    [ -x "$out/$c" ] && continue
    log "  go build $c"
    (cd "$mod" && go build -trimpath -ldflags "$ld" -o "$out/$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2)
    mv "$out/$c.tmp" "$out/$c"
  done
  echo "$out"
}

build_etcd() {
  local out="$CACHE/etcd-$ETCD_VERSION"
  if [ -x "$out/etcd" ]; then echo "$out"; return; fi
  need_go etcd
  local mod="$CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$mod" "$out"
  log "building etcd $ETCD_VERSION from the Go module proxy (first run only)"
  printf 'module ssmagent.io/tools/etcd\ngo 1.25\n' > "$mod/go.mod"
  (cd "$mod" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 \
    && go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3 >&2)
  mv "$out/etcd.tmp" "$out/etcd"
  echo "$out"
}

build_helm() {
  local out="$CACHE/helm-$HELM_VERSION"
  if [ -x "$out/helm" ]; then echo "$out"; return; fi
  need_go helm
  log "building helm $HELM_VERSION from the Go module proxy (first run only)"
  mkdir -p "$out"
  GOBIN="$out" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
  echo "$out"
}

link() { ln -sf "$1/$2" "$BIN/$2"; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
  log "using kube-apiserver and etcd from KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  link "$KUBEBUILDER_ASSETS" kube-apiserver
  link "$KUBEBUILDER_ASSETS" etcd
  # envtest ships kube-apiserver, etcd and kubectl only; the rest of the cluster is built here, same version.
  k=$(build_k8s); for c in kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    if [ -x "$KUBEBUILDER_ASSETS/$c" ]; then link "$KUBEBUILDER_ASSETS" "$c"; else link "$k" "$c"; fi
  done
else
  k=$(build_k8s); for c in "${K8S_CMDS[@]}"; do link "$k" "$c"; done
  e=$(build_etcd); link "$e" etcd
fi
h=$(build_helm); link "$h" helm
echo "$BIN"
