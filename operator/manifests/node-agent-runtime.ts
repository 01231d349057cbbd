// How the node-agent container runs Node: one place, used by the DaemonSet builder and by the tests and benchmarks
// that run the node agent the way the pods do.

/**
 * V8 sized for a small long-lived daemon. It allocates little and slowly (a pass every few minutes, a probe round
 * every minute), so a 1 MiB young generation costs a few more scavenges and saves the RSS of V8's default 16 MiB
 * semi-spaces, which a start-up burst commits and seldom gives back. The old generation holds about 25 MiB live
 * (measured, `npm run bench`); the cap leaves 2.5× that and makes V8 collect before it grows toward the container's
 * limit instead of after.
 */
export const NODE_AGENT_V8_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--max-old-space-size=64'];

/**
 * glibc's allocator (the image is Debian): buffers of 64 KiB and more get their own mappings, returned to the
 * kernel when freed. A pass streams the package (download, sha256, OpenPGP) in 64 KiB chunks; under glibc's
 * default threshold (128 KiB, rising with use) they came from the main arena, which kept about one package's
 * worth of freed memory for good: the steady node agent's [heap] mapping held 13-29 MiB (2 MiB in a bare Node),
 * and streaming a 32 MiB file alone left 35 MiB there, 3 MiB with this threshold (/proc/PID/smaps).
 */
export const NODE_AGENT_RUNTIME_ENV: readonly { name: string; value: string }[] = [{ name: 'GLIBC_TUNABLES', value: 'glibc.malloc.mmap_threshold=65536' }];

/** The image's node-agent entry point. */
export const NODE_AGENT_MAIN = '/app/node-agent/main.ts';

export const NODE_AGENT_COMMAND: readonly string[] = ['node', ...NODE_AGENT_V8_FLAGS, NODE_AGENT_MAIN];
