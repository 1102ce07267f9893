import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConfigError,
  ConfigSchema,
  SECRET_KEYS,
  loadConfig,
  redactConfig,
  type Config,
} from "./config.ts";

/** Runs loadConfig and returns the problems it reported (fails the test if it did not throw). */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error("expected loadConfig to throw a ConfigError");
}

const TOKEN = "tok-9f8e7d6c5b4a3210-secret";
const DB_URL = "postgres://ventros:pg-p4ssw0rd@db.internal:5432/ventros";

let dir: string;
const tempFile = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ventros-config-test-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("loadConfig defaults", () => {
  it("returns the documented defaults for an empty environment", () => {
    expect(loadConfig({})).toMatchObject({
      NODE_ENV: "development",
      PORT: 8080,
      HOST: "0.0.0.0",
      LOG_LEVEL: "info",
      DATA_DIR: "./data",
      DATABASE_POOL_MAX: 10,
      DATABASE_STATEMENT_TIMEOUT_MS: 30_000,
      BODY_LIMIT_BYTES: 1_048_576,
      JOBS_POLL_INTERVAL_SECONDS: 1,
    });
  });

  it("applies every schema default and nothing else", () => {
    const config = loadConfig({}) as Record<string, unknown>;
    const properties = ConfigSchema.properties as Record<string, { default?: unknown }>;
    const withDefault = Object.keys(properties).filter((k) => properties[k]?.default !== undefined);
    expect(withDefault.length).toBeGreaterThan(10);
    expect(Object.keys(config).sort()).toEqual(withDefault.sort());
    for (const key of withDefault) expect(config[key]).toBe(properties[key]?.default);
  });

  it("leaves optional secrets unset by default", () => {
    const config = loadConfig({});
    for (const key of SECRET_KEYS) expect(config[key]).toBeUndefined();
  });

  it("treats an empty string as unset and applies the default", () => {
    const config = loadConfig({ PORT: "", LOG_LEVEL: "", ADMIN_TOKEN: "", DATABASE_URL: "" });
    expect(config.PORT).toBe(8080);
    expect(config.LOG_LEVEL).toBe("info");
    expect(config.ADMIN_TOKEN).toBeUndefined();
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it("ignores variables that are not in the schema", () => {
    const config = loadConfig({ PATH: "/usr/bin", SOMETHING_ELSE: "x" }) as Record<string, unknown>;
    expect(config["PATH"]).toBeUndefined();
    expect(config["SOMETHING_ELSE"]).toBeUndefined();
  });

  it("does not mutate the environment map it is given", () => {
    const env = { PORT: "3000", NODE_ENV: "test" };
    loadConfig(env);
    expect(env).toEqual({ PORT: "3000", NODE_ENV: "test" });
  });
});

describe("loadConfig conversion", () => {
  it("converts integer settings from strings to numbers", () => {
    const config = loadConfig({ PORT: "3000", DATABASE_POOL_MAX: "25", JOBS_RETRY_LIMIT: "0" });
    expect(config.PORT).toBe(3000);
    expect(config.DATABASE_POOL_MAX).toBe(25);
    expect(config.JOBS_RETRY_LIMIT).toBe(0);
  });

  it("converts fractional number settings", () => {
    expect(loadConfig({ JOBS_POLL_INTERVAL_SECONDS: "2.5" }).JOBS_POLL_INTERVAL_SECONDS).toBe(2.5);
    expect(loadConfig({ JOBS_POLL_INTERVAL_SECONDS: "0.5" }).JOBS_POLL_INTERVAL_SECONDS).toBe(0.5);
  });

  it("tolerates surrounding whitespace in a number", () => {
    expect(loadConfig({ PORT: " 8081 " }).PORT).toBe(8081);
  });

  it("keeps string settings as given", () => {
    const config = loadConfig({
      HOST: "127.0.0.1",
      DATA_DIR: "/var/lib/ventros",
      BOOTSTRAP_PROJECT_NAME: "0042",
      NODE_ENV: "production",
      LOG_LEVEL: "debug",
    });
    expect(config.HOST).toBe("127.0.0.1");
    expect(config.DATA_DIR).toBe("/var/lib/ventros");
    expect(config.BOOTSTRAP_PROJECT_NAME).toBe("0042");
    expect(config.NODE_ENV).toBe("production");
    expect(config.LOG_LEVEL).toBe("debug");
  });

  it("accepts the inclusive bounds of a range", () => {
    expect(loadConfig({ PORT: "0" }).PORT).toBe(0);
    expect(loadConfig({ PORT: "65535" }).PORT).toBe(65535);
  });

  it.each([
    ["PORT", "abc"],
    ["PORT", "12abc"],
    ["PORT", "12.5"],
    ["PORT", "true"],
    ["PORT", "false"],
    ["PORT", "0x1F"],
    ["DATABASE_POOL_MAX", "2.9"],
    ["JOBS_POLL_INTERVAL_SECONDS", "true"],
    ["JOBS_POLL_INTERVAL_SECONDS", "fast"],
  ])("reports %s=%j instead of silently converting it", (key, value) => {
    const problems = problemsOf({ [key]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${key}: `));
  });

  it("names the expected type when a number is not an integer", () => {
    expect(problemsOf({ PORT: "12.5" })[0]).toMatch(/^PORT: .*integer.*12\.5/);
  });

  it.each([
    ["PORT", "65536", /65535/],
    ["PORT", "-1", /0/],
    ["DATABASE_POOL_MAX", "0", /1/],
    ["DATABASE_POOL_MAX", "201", /200/],
    ["JOBS_POLL_INTERVAL_SECONDS", "0.1", /0\.5/],
    ["BODY_LIMIT_BYTES", "10", /1024/],
  ])("reports %s=%s as out of range", (key, value, bound) => {
    const problems = problemsOf({ [key]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${key}: `));
    expect(problems[0]).toMatch(bound);
    expect(problems[0]).toContain(`(got ${value})`);
  });
});

describe("loadConfig problems", () => {
  it("reports every bad variable in one ConfigError", () => {
    const env = {
      NODE_ENV: "prod",
      PORT: "not-a-port",
      LOG_LEVEL: "loud",
      DATABASE_POOL_MAX: "0",
      JOBS_POLL_INTERVAL_SECONDS: "100",
      IDEMPOTENCY_TTL_HOURS: "-3",
    };
    const problems = problemsOf(env);
    expect(problems).toHaveLength(Object.keys(env).length);
    for (const key of Object.keys(env)) {
      expect(problems.filter((p) => p.startsWith(`${key}: `))).toHaveLength(1);
    }
  });

  it("puts every problem in the error message too", () => {
    try {
      loadConfig({ PORT: "x", LOG_LEVEL: "loud" });
      expect.unreachable();
    } catch (error) {
      const configError = error as ConfigError;
      expect(configError).toBeInstanceOf(Error);
      expect(configError.name).toBe("ConfigError");
      expect(configError.message).toMatch(/^Invalid configuration:/);
      for (const problem of configError.problems) expect(configError.message).toContain(problem);
    }
  });

  it("shows the offending non-secret value", () => {
    expect(problemsOf({ PORT: "abc" })[0]).toContain('(got "abc")');
  });

  it("lists the allowed values of NODE_ENV", () => {
    expect(problemsOf({ NODE_ENV: "prod" })).toEqual([
      'NODE_ENV: must be one of development, production, test (got "prod")',
    ]);
  });

  it("lists the allowed values of LOG_LEVEL", () => {
    const [problem] = problemsOf({ LOG_LEVEL: "verbose" });
    expect(problem).toContain("must be one of fatal, error, warn, info, debug, trace, silent");
    expect(problem).toMatch(/^LOG_LEVEL: /);
  });

  it("is case-sensitive for enums", () => {
    expect(problemsOf({ NODE_ENV: "Production" })[0]).toMatch(/^NODE_ENV: must be one of/);
  });
});

describe("ADMIN_TOKEN", () => {
  it("accepts exactly 16 characters", () => {
    expect(loadConfig({ ADMIN_TOKEN: "a".repeat(16) }).ADMIN_TOKEN).toBe("a".repeat(16));
  });

  it("rejects 15 characters without echoing the token", () => {
    const token = "shortsecret-15c";
    expect(token).toHaveLength(15);
    const problems = problemsOf({ ADMIN_TOKEN: token });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^ADMIN_TOKEN: /);
    expect(problems[0]).toContain("16");
    expect(problems[0]).toContain("[redacted]");
    expect(problems[0]).not.toContain(token);
  });
});

describe("*_FILE secrets", () => {
  it("reads a secret from NAME_FILE and trims the trailing newline", () => {
    const path = tempFile("admin-token", `  ${TOKEN}\n`);
    expect(loadConfig({ ADMIN_TOKEN_FILE: path }).ADMIN_TOKEN).toBe(TOKEN);
  });

  it.each(SECRET_KEYS.filter((k) => k !== "ADMIN_TOKEN"))("reads %s from its _FILE", (key) => {
    const value = key === "ENCRYPTION_KEY" ? Buffer.alloc(32, 7).toString("base64") : DB_URL;
    const path = tempFile(`${key}.txt`, `${value}\n`);
    expect(loadConfig({ [`${key}_FILE`]: path })[key]).toBe(value);
  });

  it("uses NAME when NAME_FILE is empty", () => {
    expect(loadConfig({ ADMIN_TOKEN: TOKEN, ADMIN_TOKEN_FILE: "" }).ADMIN_TOKEN).toBe(TOKEN);
  });

  it("reports NAME and NAME_FILE both set, without either value", () => {
    const path = tempFile("both", "file-secret-value-0123456789");
    const problems = problemsOf({ ADMIN_TOKEN: TOKEN, ADMIN_TOKEN_FILE: path });
    expect(problems).toEqual(["ADMIN_TOKEN and ADMIN_TOKEN_FILE are both set"]);
  });

  it("reports an unreadable file by path", () => {
    const missing = join(dir, "does-not-exist");
    const problems = problemsOf({ DATABASE_URL_FILE: missing });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^DATABASE_URL_FILE: cannot read /);
    expect(problems[0]).toContain(missing);
  });

  it("reports a directory given as a secret file", () => {
    const sub = join(dir, "a-directory");
    mkdirSync(sub, { recursive: true });
    const problems = problemsOf({ DATABASE_URL_FILE: sub });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^DATABASE_URL_FILE: cannot read /);
  });

  it("reports file problems together with schema problems", () => {
    const problems = problemsOf({
      DATABASE_URL_FILE: join(dir, "nope"),
      PORT: "x",
      LOG_LEVEL: "loud",
    });
    expect(problems).toHaveLength(3);
    expect(problems.some((p) => p.startsWith("DATABASE_URL_FILE: "))).toBe(true);
    expect(problems.some((p) => p.startsWith("PORT: "))).toBe(true);
    expect(problems.some((p) => p.startsWith("LOG_LEVEL: "))).toBe(true);
  });

  it("redacts a too-short token read from a file", () => {
    const path = tempFile("short", "tiny-secret\n");
    const problems = problemsOf({ ADMIN_TOKEN_FILE: path });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^ADMIN_TOKEN: .*\[redacted\]/);
    expect(problems[0]).not.toContain("tiny-secret");
  });

  it("reports an empty secret file instead of treating it as unset", () => {
    const path = tempFile("empty", "\n");
    const problems = problemsOf({ DATABASE_URL_FILE: path });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^DATABASE_URL: /);
  });

  it("does not offer _FILE for settings that are not secrets", () => {
    const path = tempFile("port", "9999");
    expect(loadConfig({ PORT_FILE: path }).PORT).toBe(8080);
    expect(loadConfig({ PORT: "3000", PORT_FILE: path }).PORT).toBe(3000);
  });

  it("never puts a secret in problem messages", () => {
    const tokenFile = tempFile("token-both", TOKEN);
    try {
      loadConfig({
        ADMIN_TOKEN: "short-pw-value",
        ADMIN_TOKEN_FILE: tokenFile,
        DATABASE_URL: DB_URL,
        DATABASE_URL_FILE: tempFile("db-both", DB_URL),
        PORT: "bad",
      });
      expect.unreachable();
    } catch (error) {
      const configError = error as ConfigError;
      expect(configError.problems.length).toBeGreaterThanOrEqual(3);
      const text = `${configError.message}\n${configError.problems.join("\n")}`;
      for (const secret of [TOKEN, "short-pw-value", DB_URL, "pg-p4ssw0rd"]) {
        expect(text).not.toContain(secret);
      }
    }
  });
});

describe("redactConfig", () => {
  /** A distinct secret per secret setting, long enough for every minimum length. */
  // Each secret in a shape its schema accepts (ENCRYPTION_KEY is base64 of 32 bytes).
  const secretFor = (key: string) =>
    key === "ENCRYPTION_KEY"
      ? Buffer.from("s3cret-value-".padEnd(32, "k")).toString("base64")
      : `${key.toLowerCase()}-s3cret-value://user:pw@host`;
  const withSecrets = (): Config =>
    loadConfig({ ...Object.fromEntries(SECRET_KEYS.map((k) => [k, secretFor(k)])), PORT: "3000" });

  it("covers the settings that hold credentials", () => {
    expect(SECRET_KEYS).toContain("DATABASE_URL");
    expect(SECRET_KEYS).toContain("ADMIN_TOKEN");
  });

  it("replaces every secret with a marker", () => {
    const config = withSecrets();
    for (const key of SECRET_KEYS) expect(config[key]).toBe(secretFor(key));
    const redacted = redactConfig(config);
    for (const key of SECRET_KEYS) expect(redacted[key]).toBe("[redacted]");
  });

  it("leaves no secret text anywhere in the output", () => {
    const text = JSON.stringify(redactConfig(withSecrets()));
    expect(text).not.toContain("s3cret");
    expect(text).not.toContain("user:pw");
  });

  it("keeps the other settings", () => {
    const config = withSecrets();
    const redacted = redactConfig(config);
    expect(redacted["PORT"]).toBe(3000);
    expect(redacted["HOST"]).toBe("0.0.0.0");
    expect(Object.keys(redacted).sort()).toEqual(Object.keys(config).sort());
  });

  it("does not invent secrets that are unset", () => {
    const redacted = redactConfig(loadConfig({}));
    for (const key of SECRET_KEYS) expect(redacted[key]).toBeUndefined();
  });

  it("does not modify the config it is given", () => {
    const config = withSecrets();
    redactConfig(config);
    for (const key of SECRET_KEYS) expect(config[key]).toBe(secretFor(key));
  });
});
