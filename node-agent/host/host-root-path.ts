// A host path seen from the node agent's container, with the host's symlinks resolved in the host's root. Through
// /proc/PID/root the kernel resolves an absolute symlink against the *caller's* root, so a host's
// /var/lib/amazon -> /data/amazon (or RHEL's CA bundle chain of absolute links) would point into the container and
// look absent (an unregistered host, then a duplicate mi-). Resolution here is component by component, like the
// kernel's with the root pinned: ".." stops at the root, at most 40 links (ELOOP).
import { lstatSync, readlinkSync } from 'node:fs';

const MAX_LINKS = 40;

/**
 * `root` + the host path `path` with its symlinks resolved inside `root`. The last component is followed only
 * when `followLast` (removing or replacing a symlink acts on the link itself). Components that do not exist are
 * kept as they are.
 */
export function resolveInRoot(root: string, path: string, followLast = true): string {
  if (!path.startsWith('/')) throw new Error(`host paths are absolute: ${path}`);
  const base = root.replace(/\/+$/, '');
  let queue = path.split('/').filter((p) => p !== '');
  let resolved: string[] = [];
  let links = 0;
  while (queue.length > 0) {
    const part = queue.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, part];
    if (queue.length === 0 && !followLast) {
      resolved = candidate;
      break;
    }
    const full = `${base}/${candidate.join('/')}`;
    let target: string | undefined;
    try {
      if (lstatSync(full).isSymbolicLink()) target = readlinkSync(full);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
    if (target === undefined) {
      resolved = candidate;
      continue;
    }
    if (++links > MAX_LINKS) throw Object.assign(new Error(`ELOOP: too many symbolic links in host path ${path}`), { code: 'ELOOP' });
    if (target.startsWith('/')) resolved = [];
    queue = [...target.split('/').filter((p) => p !== ''), ...queue];
  }
  return `${base}/${resolved.join('/')}`;
}
