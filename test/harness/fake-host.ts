// An in-memory Host for unit tests of single steps: files in a Map, commands answered by a script the test gives
// (first matching rule wins), every command recorded with its options. Integration tests use the real systemd host.
import type { CommandResult, FileInfo, Host, RunOptions } from '../../node-agent/host/host.ts';

export type CommandRule = (argv: string[], opts: RunOptions, host: FakeHost) => CommandResult | Promise<CommandResult> | undefined;

export interface RecordedCommand {
  argv: string[];
  opts: RunOptions;
}

export class FakeHost implements Host {
  readonly files = new Map<string, { content: Buffer; mode: number; ino?: number }>();
  readonly commands: RecordedCommand[] = [];
  private readonly rules: CommandRule[] = [];

  /** Answers commands with `rule` (checked before the rules added earlier); unanswered commands exit 0 silently. */
  on(rule: CommandRule): this {
    this.rules.unshift(rule);
    return this;
  }

  async run(argv: string[], opts: RunOptions = {}): Promise<CommandResult> {
    this.commands.push({ argv, opts });
    for (const rule of this.rules) {
      const r = await rule(argv, opts, this);
      if (r) return r;
    }
    // A fake host runs no processes: pgrep finds none (exit 1), as on an idle host.
    if (argv[0] === 'pgrep') return { code: 1, stdout: '', stderr: '' };
    return { code: 0, stdout: '', stderr: '' };
  }

  /** the commands run so far, as space-joined strings */
  ran(): string[] {
    return this.commands.map((c) => c.argv.join(' '));
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    return this.files.get(path)?.content;
  }

  async readFileRange(path: string, start: number, maxBytes: number): Promise<Buffer | undefined> {
    return this.files.get(path)?.content.subarray(start, start + maxBytes);
  }

  async writeFileAtomic(path: string, content: string | Buffer, mode: number): Promise<void> {
    this.files.set(path, { content: Buffer.from(content), mode });
  }

  async rename(from: string, to: string): Promise<void> {
    const f = this.files.get(from);
    if (!f) throw Object.assign(new Error(`ENOENT: ${from}`), { code: 'ENOENT' });
    this.files.set(to, f);
    this.files.delete(from);
  }

  async removeFile(path: string): Promise<boolean> {
    return this.files.delete(path);
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    const f = this.files.get(path);
    return f && { size: f.content.length, mode: f.mode, mtimeMs: 0, ...(f.ino !== undefined ? { ino: f.ino } : {}) };
  }

  hostPath(path: string): string {
    return `/fake-host${path}`;
  }
}

export const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' });
export const exit = (code: number, stdout = '', stderr = ''): CommandResult => ({ code, stdout, stderr });
