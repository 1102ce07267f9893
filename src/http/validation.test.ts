import type { FastifySchemaValidationError } from "fastify";
import { describe, expect, it } from "vitest";
import { validatorCompiler } from "./validation.ts";

type Part = "body" | "querystring" | "params" | "headers";

/** Compiles a schema the way Fastify does for one part of a route. */
function validator(schema: object, httpPart: Part) {
  const validate = validatorCompiler()({ schema, httpPart, method: "POST", url: "/test" });
  return (data: unknown) => {
    const ok = validate(data);
    return { ok, errors: (validate.errors ?? []) as FastifySchemaValidationError[] };
  };
}

const ageSchema = {
  type: "object",
  properties: { age: { type: "integer" }, name: { type: "string" } },
  required: ["age"],
  additionalProperties: false,
};

describe("body validator", () => {
  const validate = validator(ageSchema, "body");

  it("accepts a valid body", () => {
    expect(validate({ age: 12, name: "Ana" }).ok).toBe(true);
  });

  it('does not coerce "12" into an integer', () => {
    const body = { age: "12" };
    const { ok, errors } = validate(body);
    expect(ok).toBe(false);
    expect(errors).toContainEqual(
      expect.objectContaining({ keyword: "type", instancePath: "/age" }),
    );
    expect(body.age).toBe("12");
  });

  it.each([
    ["a boolean string", "flag", "true"],
    ["a numeric string for a number", "score", "1.5"],
    ["a number for a string", "label", 42],
    ["null for a string", "label", null],
    ["a string for an array", "tags", "vip"],
  ])("does not coerce %s", (_name, key, value) => {
    const typed = validator(
      {
        type: "object",
        properties: {
          flag: { type: "boolean" },
          score: { type: "number" },
          label: { type: "string" },
          tags: { type: "array", items: { type: "string" } },
        },
      },
      "body",
    );
    const body: Record<string, unknown> = { [key]: value };
    expect(typed(body).ok).toBe(false);
    expect(body[key]).toBe(value);
  });

  it("rejects an additional property without stripping it", () => {
    const body = { age: 12, role: "admin" };
    const { ok, errors } = validate(body);
    expect(ok).toBe(false);
    expect(errors).toContainEqual(
      expect.objectContaining({
        keyword: "additionalProperties",
        params: { additionalProperty: "role" },
      }),
    );
    expect(body).toEqual({ age: 12, role: "admin" });
  });

  it("reports every problem at once", () => {
    const { ok, errors } = validate({ age: "x", extra: 1, other: 2 });
    expect(ok).toBe(false);
    expect(errors.map((e) => e.keyword).sort()).toEqual([
      "additionalProperties",
      "additionalProperties",
      "type",
    ]);
  });

  it("reports a missing required property", () => {
    const { ok, errors } = validate({});
    expect(ok).toBe(false);
    expect(errors).toContainEqual(
      expect.objectContaining({ keyword: "required", params: { missingProperty: "age" } }),
    );
  });
});

describe("querystring and params validators", () => {
  it('coerce "12" into 12 for an integer', () => {
    const validate = validator(ageSchema, "querystring");
    const query: Record<string, unknown> = { age: "12" };
    expect(validate(query).ok).toBe(true);
    expect(query["age"]).toBe(12);
  });

  it("coerce path params too", () => {
    const validate = validator(ageSchema, "params");
    const params: Record<string, unknown> = { age: "7" };
    expect(validate(params).ok).toBe(true);
    expect(params["age"]).toBe(7);
  });

  it("still reject text that is not a number", () => {
    expect(validator(ageSchema, "querystring")({ age: "twelve" }).ok).toBe(false);
    expect(validator(ageSchema, "querystring")({ age: "12.5" }).ok).toBe(false);
  });

  it("wrap a single value into an array", () => {
    const validate = validator(
      { type: "object", properties: { tag: { type: "array", items: { type: "string" } } } },
      "querystring",
    );
    const query: Record<string, unknown> = { tag: "vip" };
    expect(validate(query).ok).toBe(true);
    expect(query["tag"]).toEqual(["vip"]);
  });

  it("reject unknown query parameters instead of dropping them", () => {
    const validate = validator(ageSchema, "querystring");
    const query = { age: "1", debug: "true" };
    const { ok, errors } = validate(query);
    expect(ok).toBe(false);
    expect(errors[0]?.params).toEqual({ additionalProperty: "debug" });
    expect(query).toHaveProperty("debug", "true");
  });

  it("fill in defaults", () => {
    const validate = validator(
      { type: "object", properties: { limit: { type: "integer", default: 50 } } },
      "querystring",
    );
    const query: Record<string, unknown> = {};
    expect(validate(query).ok).toBe(true);
    expect(query["limit"]).toBe(50);
  });
});

describe("formats", () => {
  const schemaFor = (format: string) => ({
    type: "object",
    properties: { value: { type: "string", format } },
  });

  describe.each<Part>(["body", "querystring"])("in %s", (part) => {
    it.each([
      ["email", "ana@example.com", true],
      ["email", "first.last+tag@sub.example.org", true],
      ["email", "not-an-email", false],
      ["email", "ana@", false],
      ["date-time", "2026-01-15T12:30:45Z", true],
      ["date-time", "2026-01-15T12:30:45.123+02:00", true],
      ["date-time", "2026-01-15", false],
      ["date-time", "2026-13-01T00:00:00Z", false],
      ["date-time", "2026-01-15T25:00:00Z", false],
      ["date-time", "yesterday", false],
      ["uuid", "0190f0a1-b2c3-7d4e-8f60-123456789abc", true],
      ["uuid", "0190F0A1-B2C3-7D4E-8F60-123456789ABC", true],
      ["uuid", "0190f0a1-b2c3-7d4e-8f60-123456789ab", false],
      ["uuid", "0190f0a1b2c37d4e8f60123456789abc0000", false],
      ["uuid", "../../etc/passwd", false],
    ])("%s %j -> %s", (format, value, valid) => {
      const { ok, errors } = validator(schemaFor(format), part)({ value });
      expect(ok).toBe(valid);
      if (!valid) expect(errors[0]).toMatchObject({ keyword: "format", params: { format } });
    });
  });
});

describe("validatorCompiler", () => {
  it("gives each compiler its own Ajv instances, so the same $id can be compiled twice", () => {
    const schema = { $id: "Thing", type: "object", properties: { a: { type: "integer" } } };
    const first = validatorCompiler()({ schema, httpPart: "body", method: "GET", url: "/a" });
    const second = validatorCompiler()({ schema, httpPart: "body", method: "GET", url: "/b" });
    expect(first({ a: 1 })).toBe(true);
    expect(second({ a: "1" })).toBe(false);
  });
});
