/** The sudoers rule the agent itself writes for ssm-user when it creates it. */
export function sudoersContent(user: string): string {
  return `# User rules for ${user}\n# Written by ssm-agent-operator (SsmAgentConfig ssmUser.sudo: true).\n${user} ALL=(ALL) NOPASSWD:ALL\n`;
}
