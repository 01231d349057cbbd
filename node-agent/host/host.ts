// The Host port: everything the node agent does to its node goes through this interface. The production adapter
// (nsenter-host.ts) acts in the namespaces of PID 1; tests give it the PID 1 of a real systemd container instead.

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin (secrets go here, never into argv or the environment). */
  input?: string | Buffer;
  /** Extra environment variables for the command. */
  env?: Record<string, string>;
  /** Killed after this long (default 120 s); a timeout throws. */
  timeoutMs?: number;
}

export interface FileInfo {
  size: number;
  mode: number;
  mtimeMs: number;
  /** the inode number: a rotated log has a new one */
  ino?: number;
}

export interface Host {
  /** Runs a command in the host's namespaces. A non-zero exit is a result, not an error; failing to run throws. */
  run(argv: string[], opts?: RunOptions): Promise<CommandResult>;
  /** The file's content, or undefined when it does not exist. */
  readFile(path: string): Promise<Buffer | undefined>;
  /** At most `maxBytes` of the file from byte `start` (fewer at its end), or undefined when it does not exist. */
  readFileRange(path: string, start: number, maxBytes: number): Promise<Buffer | undefined>;
  /** Writes through a temporary file in the same directory and renames it into place (creates parent dirs). */
  writeFileAtomic(path: string, content: string | Buffer, mode: number): Promise<void>;
  /** Renames a file on the host (atomic within one filesystem). */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; false when it was not there. */
  removeFile(path: string): Promise<boolean>;
  stat(path: string): Promise<FileInfo | undefined>;
  /** A path on the host, seen from this process (for large files such as downloads). */
  hostPath(path: string): string;
}
