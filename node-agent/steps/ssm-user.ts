// Step 4: ssm-user exists up front, in the configured groups, with sudo only when the policy says so. A sudoers
// file is checked with visudo before it is renamed into place: a broken one would lock admins out of the host.
// With create: false the node agent manages neither the user nor its sudoers file: the real agent creates ssm-user
// lazily at the first session and writes /etc/sudoers.d/ssm-agent-users itself. Groups the node agent added are
// recorded on the host, so that a group removed from the spec is removed from ssm-user (and no other group is).
import type { Host } from '../host/host.ts';
import { NODE_AGENT_HOST_DIR, SSM_USER, SUDOERS_FILE } from './paths.ts';
import { must, StepError, type Step, type StepContext } from './step.ts';
import { sudoersContent } from './sudoers.ts';

const STAGED_SUDOERS = '/etc/sudoers.d/.ssm-agent-users.staged'; // sudo ignores names containing a dot
/** the groups the node agent added ssm-user to, one a line */
export const ADDED_GROUPS_FILE = `${NODE_AGENT_HOST_DIR}/ssm-user-groups`;

async function addedGroups(host: Host): Promise<string[]> {
  return ((await host.readFile(ADDED_GROUPS_FILE))?.toString('utf8') ?? '').split('\n').filter((g) => g !== '');
}

async function currentGroups(host: Host): Promise<string[]> {
  return (await host.run(['id', '-nG', SSM_USER])).stdout.trim().split(/\s+/);
}

/** Groups the node agent added that the spec no longer lists and that ssm-user is still in. */
async function staleGroups(ctx: StepContext): Promise<string[]> {
  const added = await addedGroups(ctx.host);
  if (added.length === 0 || !(await userExists(ctx.host))) return [];
  const have = await currentGroups(ctx.host);
  return added.filter((g) => !ctx.config.ssmUser.groups.includes(g) && have.includes(g));
}

async function userExists(host: Host): Promise<boolean> {
  return (await host.run(['getent', 'passwd', SSM_USER])).code === 0;
}

async function missingGroups(ctx: StepContext): Promise<string[]> {
  const wanted = ctx.config.ssmUser.groups;
  if (wanted.length === 0 || !(await userExists(ctx.host))) return wanted;
  const have = await currentGroups(ctx.host);
  return wanted.filter((g) => !have.includes(g));
}

async function sudoersWanted(ctx: StepContext): Promise<string | undefined> {
  return ctx.config.ssmUser.create && ctx.config.ssmUser.sudo ? sudoersContent(SSM_USER) : undefined;
}

export const ssmUserStep: Step = {
  name: 'ssm-user',
  async check(ctx) {
    const todo: string[] = [];
    if (ctx.config.ssmUser.create) {
      if (!(await userExists(ctx.host))) todo.push('create ssm-user');
      const groups = await missingGroups(ctx);
      if (groups.length > 0) todo.push(`add ssm-user to ${groups.join(', ')}`);
      const stale = await staleGroups(ctx);
      if (stale.length > 0) todo.push(`remove ssm-user from ${stale.join(', ')}`);
      const have = (await ctx.host.readFile(SUDOERS_FILE))?.toString('utf8');
      const want = await sudoersWanted(ctx);
      if (have !== want) todo.push(want ? `write ${SUDOERS_FILE}` : `remove ${SUDOERS_FILE}`);
    }
    return todo.length > 0 ? { needed: true, what: todo.join('; ') } : { needed: false };
  },
  async apply(ctx) {
    const { host } = ctx;
    if (ctx.config.ssmUser.create && !(await userExists(host))) {
      await must(host, ['useradd', '--create-home', '--shell', '/bin/bash', '--comment', 'SSM Session Manager user', SSM_USER], 'UserAddFailed');
    }
    if (!ctx.config.ssmUser.create) return;
    const added = new Set(await addedGroups(host));
    const record = () => host.writeFileAtomic(ADDED_GROUPS_FILE, [...added].map((g) => `${g}\n`).join(''), 0o644);
    for (const group of await staleGroups(ctx)) {
      await must(host, ['gpasswd', '--delete', SSM_USER, group], 'UserModFailed');
      added.delete(group);
      await record();
    }
    for (const group of await missingGroups(ctx)) {
      if ((await host.run(['getent', 'group', group])).code !== 0) throw new StepError('GroupMissing', `group ${group} does not exist on the host; create it or remove it from ssmUser.groups`);
      await must(host, ['usermod', '--append', '--groups', group, SSM_USER], 'UserModFailed');
      added.add(group);
      await record();
    }
    const want = await sudoersWanted(ctx);
    const have = (await host.readFile(SUDOERS_FILE))?.toString('utf8');
    if (have === want) return;
    if (!want) {
      await host.removeFile(SUDOERS_FILE);
      return;
    }
    await host.writeFileAtomic(STAGED_SUDOERS, want, 0o440);
    const check = await host.run(['visudo', '-c', '-q', '-f', STAGED_SUDOERS]);
    if (check.code !== 0) {
      await host.removeFile(STAGED_SUDOERS);
      throw new StepError('SudoersInvalid', `visudo rejected the sudoers file, left unchanged: ${(check.stderr || check.stdout).trim()}`);
    }
    await host.rename(STAGED_SUDOERS, SUDOERS_FILE);
  },
};
