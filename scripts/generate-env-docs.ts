/**
 * Regenerates .env.example and the configuration table in README.md from the config
 * schema, so documentation cannot drift (src/env-example.test.ts checks the former).
 * Run: npm run docs:env
 */
import { readFileSync, writeFileSync } from "node:fs";
import { format, resolveConfig } from "prettier";
import { ConfigSchema, SECRET_KEYS } from "../src/config.ts";

type Property = { default?: unknown; description?: string };
const properties = Object.entries(ConfigSchema.properties as Record<string, Property>);
const isSecret = (key: string) => (SECRET_KEYS as readonly string[]).includes(key);

const example = [
  "# Ventros configuration. Every variable is optional; the value shown is the default.",
  `# Secrets (${SECRET_KEYS.join(", ")}) may instead be read from a file named by NAME_FILE.`,
  "",
  ...properties.flatMap(([key, p]) => [
    `# ${p.description}`,
    p.default === undefined ? `# ${key}=` : `${key}=${String(p.default)}`,
  ]),
  "",
].join("\n");
writeFileSync(".env.example", example);

const table = [
  "| Variable | Default | Meaning |",
  "|---|---|---|",
  ...properties.map(([key, p]) => {
    const value =
      p.default === undefined || p.default === "" ? "unset" : `\`${String(p.default)}\``;
    const secret = isSecret(key) ? ` (secret: \`${key}_FILE\` accepted, never logged)` : "";
    return `| \`${key}\` | ${value} | ${p.description}${secret} |`;
  }),
].join("\n");
const readme = readFileSync("README.md", "utf8");
const start = "<!-- config-table:start -->";
const end = "<!-- config-table:end -->";
const before = readme.slice(0, readme.indexOf(start) + start.length);
const after = readme.slice(readme.indexOf(end));
if (!readme.includes(start) || !readme.includes(end))
  throw new Error("README lacks the table markers");
// Formatted as `npm run format:check` expects, so regenerating never breaks the check.
const options = (await resolveConfig("README.md")) ?? {};
writeFileSync(
  "README.md",
  await format(`${before}\n${table}\n${after}`, { ...options, filepath: "README.md" }),
);
