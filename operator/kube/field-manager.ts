/** The field manager of every server-side apply and status write the operator makes. */
export const FIELD_MANAGER = 'ssm-agent-operator';
