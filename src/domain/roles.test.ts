import { describe, expect, it } from "vitest";
import { ROLES, roleAllows, type Role } from "./roles.ts";

/** held -> required -> allowed, written out in full rather than derived. */
const MATRIX: Record<Role, Record<Role, boolean>> = {
  admin: { admin: true, agent: true, readonly: true },
  agent: { admin: false, agent: true, readonly: true },
  readonly: { admin: false, agent: false, readonly: true },
};

describe("roleAllows", () => {
  const cases = ROLES.flatMap((held) =>
    ROLES.map((required) => [held, required, MATRIX[held][required]] as const),
  );

  it("covers all nine held/required pairs", () => {
    expect(cases).toHaveLength(9);
  });

  it.each(cases)("%s holding, %s required -> %s", (held, required, allowed) => {
    expect(roleAllows(held, required)).toBe(allowed);
  });

  it("lists roles from most to least powerful", () => {
    expect(ROLES).toEqual(["admin", "agent", "readonly"]);
  });

  it("every role satisfies itself and every weaker role", () => {
    ROLES.forEach((held, i) => {
      ROLES.forEach((required, j) => expect(roleAllows(held, required)).toBe(i <= j));
    });
  });
});
