// SIGKILL a process and everything it started, as a container runtime kills a pod's cgroup: the node agent's host
// commands run in process groups of their own (nsenter forks them into the host's PID namespace), so a signal to
// the node agent's group alone would leave a dpkg or a `-register` running on. The tree is frozen (SIGSTOP) first,
// so nothing in it can start a new child between the scan and the kill. Only descendants of `root` are touched,
// each by its pid.
import { readdirSync, readFileSync } from 'node:fs';

/** pid → parent pid of every process visible in /proc. */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after its last ')'
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.set(Number(name), ppid);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** `root` and its descendants, root first. */
export function processTree(root: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const [pid, ppid] of parents()) byParent.set(ppid, [...(byParent.get(ppid) ?? []), pid]);
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0 && out.length < 10_000) {
    const pid = queue.shift() as number;
    out.push(pid);
    queue.push(...(byParent.get(pid) ?? []));
  }
  return out;
}

const signal = (pid: number, sig: NodeJS.Signals) => {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
};

/** Freezes the tree under `root`, then SIGKILLs all of it. Returns the pids killed. */
export function killTree(root: number): number[] {
  const frozen = new Set<number>();
  for (let round = 0; round < 20; round++) {
    const tree = processTree(root).filter((p) => !frozen.has(p));
    if (tree.length === 0) break;
    for (const pid of tree) {
      signal(pid, 'SIGSTOP');
      frozen.add(pid);
    }
  }
  for (const pid of frozen) signal(pid, 'SIGKILL');
  return [...frozen];
}
