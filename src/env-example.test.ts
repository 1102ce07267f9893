import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigSchema } from "./config.ts";

/** .env.example is documentation operators copy; it must list every setting and its default. */
describe(".env.example", () => {
  const text = readFileSync(new URL("../.env.example", import.meta.url), "utf8");
  const properties = ConfigSchema.properties as Record<
    string,
    { default?: unknown; description?: string }
  >;

  it.each(Object.keys(properties))("documents %s with its default", (key) => {
    const schema = properties[key]!;
    const line = schema.default === undefined ? `# ${key}=` : `${key}=${String(schema.default)}`;
    expect(text.split("\n")).toContain(line);
    expect(text).toContain(`# ${schema.description}`);
  });

  it("names no variable the schema does not know", () => {
    const names = [...text.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect(names.filter((n) => !(n! in properties))).toEqual([]);
  });
});
