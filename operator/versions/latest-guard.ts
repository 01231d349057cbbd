// `latest` never moves the fleet backwards: a latest/VERSION older than the version the fleet runs is a rolled-back
// or replayed file (or a mirror serving an old index), and following it would downgrade every host. The node agent
// refuses the same for itself (LatestWentBackwards); this is the operator's side, which writes `latest` into the
// revision. Pure.
import { compareVersions, isVersion } from '../api/agent-version.ts';

export interface GuardedLatest {
  /** The version to write into the revision. */
  version?: string;
  /** Why `latest` was not followed, for status. */
  refused?: string;
}

export function guardLatest(answer: string | undefined, running: string | undefined): GuardedLatest {
  if (answer === undefined) return running ? { version: running } : {};
  if (running !== undefined && isVersion(answer) && isVersion(running) && compareVersions(answer, running) < 0) {
    return {
      version: running,
      refused: `"latest" now says ${answer}, older than ${running} that the fleet runs: not downgrading; pin spec.agent.version to ${answer} to downgrade on purpose`,
    };
  }
  return { version: answer };
}
