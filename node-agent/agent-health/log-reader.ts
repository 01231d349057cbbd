// Reads the agent's log incrementally: each call returns only the complete lines written since the last one,
// never more than a bounded number of bytes (a huge or fast-growing log cannot stall a pass or fill memory), and
// starts over when the file was rotated (new inode) or truncated (shorter than where we were).
import type { Host } from '../host/host.ts';

/** per call; the agent logs a few lines a minute when healthy */
export const MAX_READ_BYTES = 256 * 1024;
/** a partial line longer than this is dropped (the agent's lines are short) */
const MAX_PARTIAL = 16 * 1024;

export interface LogChunk {
  lines: string[];
  /** the file was rotated or truncated since the last read */
  restarted: boolean;
  /** bytes skipped because more than MAX_READ_BYTES were waiting */
  skipped: number;
}

export class IncrementalLogReader {
  private readonly path: string;
  private readonly maxBytes: number;
  private offset: number | undefined;
  private ino: number | undefined;
  private partial = '';

  constructor(path: string, maxBytes = MAX_READ_BYTES) {
    this.path = path;
    this.maxBytes = maxBytes;
  }

  async read(host: Host): Promise<LogChunk> {
    const info = await host.stat(this.path);
    if (!info) {
      this.offset = undefined;
      this.partial = '';
      return { lines: [], restarted: false, skipped: 0 };
    }
    let restarted = false;
    if (this.offset === undefined) {
      // first read: the recent past is enough to know the agent's state
      this.offset = Math.max(0, info.size - this.maxBytes);
    } else if ((info.ino !== undefined && this.ino !== undefined && info.ino !== this.ino) || info.size < this.offset) {
      this.offset = 0;
      this.partial = '';
      restarted = true;
    }
    this.ino = info.ino;
    let skipped = 0;
    if (info.size - this.offset > this.maxBytes) {
      skipped = info.size - this.maxBytes - this.offset;
      this.offset = info.size - this.maxBytes;
      this.partial = '';
    }
    const data = (await host.readFileRange(this.path, this.offset, Math.min(this.maxBytes, info.size - this.offset))) ?? Buffer.alloc(0);
    this.offset += data.length;
    const text = this.partial + data.toString('utf8');
    const parts = text.split('\n');
    const last = parts.pop() ?? '';
    this.partial = last.length > MAX_PARTIAL ? '' : last;
    // A first read that started mid-file begins mid-line: drop that fragment.
    if (skipped > 0 && parts.length > 0) parts.shift();
    return { lines: parts, restarted, skipped };
  }
}
