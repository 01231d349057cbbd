# syntax=docker/dockerfile:1
# One image, two processes:
#   operator (default):  node operator/main.ts
#   node agent:          node node-agent/main.ts   (the operator sets this command in the DaemonSets it creates)
# Node 24 runs the TypeScript sources directly (type stripping), so there is no build step: the build stage only
# installs the production dependencies. The image carries Node's compile cache of the stripped sources, so neither
# process loads the TypeScript stripper at run time (see operator/image/warm-compile-cache.ts).

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE}
# An ARG declared before the first FROM is visible only to FROM lines: re-declared here so the base.name label
# below gets its value (without this line the label was empty).
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="ssm-agent-operator" \
      org.opencontainers.image.description="Kubernetes operator and node agent that keep the AWS Systems Manager Agent installed, configured, registered and healthy on every selected node" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"

# nsenter (util-linux): the node agent runs its host steps in the host's namespaces (nsenter -t 1 -m -u -i -n -p).
RUN apt-get update \
 && apt-get install -y --no-install-recommends util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && nsenter --version \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nonroot

WORKDIR /app
ENV NODE_ENV=production
# The commit in the *_build_info metrics.
ENV SSM_AGENT_OPERATOR_REVISION=${REVISION}
# Read-only at run time (root-owned; the operator's root filesystem is read-only): Node reads it and writes nothing.
ENV NODE_COMPILE_CACHE=/app/.node-compile-cache
# Sources and dependencies stay owned by root: the non-root process can read them but not change them.
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY operator/ ./operator/
COPY node-agent/ ./node-agent/
# The cache directory is per user id: 0 for the node agent (privileged DaemonSet), 65532 for the operator.
RUN mkdir -m 1777 "$NODE_COMPILE_CACHE" \
 && node operator/image/warm-compile-cache.ts 0 65532 \
 && chown -R root:root "$NODE_COMPILE_CACHE" \
 && chmod -R go-w,a+rX "$NODE_COMPILE_CACHE" && chmod 755 "$NODE_COMPILE_CACHE"

# Non-root by default; the node-agent DaemonSet overrides this to root + privileged itself.
USER 65532:65532
EXPOSE 8080 8443
CMD ["node", "operator/main.ts"]
