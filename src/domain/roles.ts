/** API key roles, from most to least powerful. */
export const ROLES = ["admin", "agent", "readonly"] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { admin: 3, agent: 2, readonly: 1 };

/** admin may do everything; agent works conversations and contacts; readonly reads. */
export const roleAllows = (held: Role, required: Role): boolean => RANK[held] >= RANK[required];
