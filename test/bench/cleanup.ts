// Cleanup actions run last-in first-out, once, whether the bench ends, fails or is interrupted.

export class Cleanup {
  private readonly actions: { what: string; run: () => Promise<void> }[] = [];
  private running?: Promise<void>;

  /** Registers an action; returns a function that runs it now (and unregisters it). */
  defer(what: string, run: () => Promise<void>): () => Promise<void> {
    const action = { what, run };
    this.actions.push(action);
    return async () => {
      const i = this.actions.indexOf(action);
      if (i < 0) return;
      this.actions.splice(i, 1);
      await run();
    };
  }

  runAll(): Promise<void> {
    this.running ??= (async () => {
      while (this.actions.length > 0) {
        const action = this.actions.pop();
        if (!action) break;
        try {
          await withTimeout(action.run(), 30_000, action.what);
        } catch (err) {
          console.error(`cleanup: ${action.what}: ${(err as Error).message}`);
        }
      }
    })();
    return this.running;
  }
}

/** Rejects when `p` does not settle within `timeoutMs`. */
export function withTimeout<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
