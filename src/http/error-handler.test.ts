import { errorCodes, type FastifyError, type FastifyReply, type FastifyRequest } from "fastify";
import { describe, expect, it, vi } from "vitest";
import { AppError, type ErrorKind } from "../platform/errors.ts";
import { errorBody, handleError, statusOf, toAppError } from "./error-handler.ts";
import { validatorCompiler } from "./validation.ts";

type Issue = { instancePath: string; message?: string; params: Record<string, unknown> };

/** The error Fastify raises when a schema rejects part of a request. */
const validationFailure = (validation: Issue[], validationContext?: string) =>
  Object.assign(new Error("validation failed"), {
    code: "FST_ERR_VALIDATION",
    statusCode: 400,
    validation,
    validationContext,
  }) as unknown as FastifyError;

const fieldsOf = (error: AppError) =>
  (error.details as { fields: { field: string; message: string }[] }).fields;

describe("toAppError for validation errors", () => {
  it("names a missing property by its parent path plus the property", () => {
    const error = toAppError(
      validationFailure([
        {
          instancePath: "",
          message: "must have required property 'name'",
          params: { missingProperty: "name" },
        },
      ]),
    );
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.kind).toBe("validation");
    expect(statusOf(error)).toBe(400);
    expect(fieldsOf(error)).toEqual([
      { field: "body.name", message: "must have required property 'name'" },
    ]);
  });

  it("names an additional property and says it is not allowed", () => {
    const error = toAppError(
      validationFailure([
        {
          instancePath: "/whatsapp",
          message: "must NOT have additional properties",
          params: { additionalProperty: "jid" },
        },
      ]),
    );
    expect(fieldsOf(error)).toEqual([
      { field: "body.whatsapp.jid", message: "is not an allowed field" },
    ]);
  });

  it("lists the allowed values of an enum", () => {
    const error = toAppError(
      validationFailure([
        {
          instancePath: "/role",
          message: "must be equal to one of the allowed values",
          params: { allowedValues: ["admin", "agent", "readonly"] },
        },
      ]),
    );
    expect(fieldsOf(error)).toEqual([
      { field: "body.role", message: "must be one of admin, agent, readonly" },
    ]);
  });

  it("turns a nested instancePath into a dotted field", () => {
    const error = toAppError(
      validationFailure([
        { instancePath: "/a/b", message: "must be integer", params: { type: "integer" } },
        { instancePath: "/tags/3", message: "must be string", params: { type: "string" } },
      ]),
    );
    expect(fieldsOf(error)).toEqual([
      { field: "body.a.b", message: "must be integer" },
      { field: "body.tags.3", message: "must be string" },
    ]);
  });

  it("prefixes the part of the request that failed", () => {
    const error = toAppError(
      validationFailure(
        [{ instancePath: "/limit", message: "must be <= 200", params: { limit: 200 } }],
        "querystring",
      ),
    );
    expect(fieldsOf(error)).toEqual([{ field: "querystring.limit", message: "must be <= 200" }]);
    const params = toAppError(
      validationFailure([{ instancePath: "/id", message: "bad", params: {} }], "params"),
    );
    expect(fieldsOf(params)[0]?.field).toBe("params.id");
  });

  it("falls back to a generic message when Ajv gives none", () => {
    const error = toAppError(validationFailure([{ instancePath: "/x", params: {} }]));
    expect(fieldsOf(error)).toEqual([{ field: "body.x", message: "is invalid" }]);
  });

  it("keeps one entry per issue, in order", () => {
    const error = toAppError(
      validationFailure([
        { instancePath: "", message: "required", params: { missingProperty: "name" } },
        { instancePath: "", message: "extra", params: { additionalProperty: "foo" } },
        { instancePath: "/status", message: "enum", params: { allowedValues: ["open", "won"] } },
      ]),
    );
    expect(fieldsOf(error).map((f) => f.field)).toEqual(["body.name", "body.foo", "body.status"]);
  });

  it("maps the issues the real body validator produces", () => {
    const schema = {
      type: "object",
      required: ["name", "role"],
      additionalProperties: false,
      properties: {
        name: { type: "string" },
        role: { enum: ["admin", "agent", "readonly"] },
        a: {
          type: "object",
          additionalProperties: false,
          properties: { b: { type: "integer" } },
        },
      },
    };
    const validate = validatorCompiler()({ schema, httpPart: "body", method: "POST", url: "/" });
    expect(validate({ role: "owner", a: { b: "1", c: 2 }, extra: true })).toBe(false);
    const error = toAppError(validationFailure(validate.errors as Issue[], "body"));
    expect(fieldsOf(error)).toEqual(
      expect.arrayContaining([
        { field: "body.name", message: "must have required property 'name'" },
        { field: "body.role", message: "must be one of admin, agent, readonly" },
        { field: "body.a.b", message: "must be integer" },
        { field: "body.a.c", message: "is not an allowed field" },
        { field: "body.extra", message: "is not an allowed field" },
      ]),
    );
    expect(fieldsOf(error)).toHaveLength(5);
  });
});

describe("toAppError for framework errors", () => {
  it("maps FST_ERR_CTP_BODY_TOO_LARGE to 413 PAYLOAD_TOO_LARGE", () => {
    const error = toAppError(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    expect(error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(error.kind).toBe("payload_too_large");
    expect(statusOf(error)).toBe(413);
  });

  it("maps FST_ERR_CTP_INVALID_MEDIA_TYPE to 415 UNSUPPORTED_MEDIA_TYPE", () => {
    const error = toAppError(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE());
    expect(error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    expect(error.kind).toBe("unsupported_media_type");
    expect(statusOf(error)).toBe(415);
    expect(error.message).toContain("application/json");
  });

  it("maps FST_ERR_CTP_INVALID_JSON_BODY to 400 MALFORMED_JSON", () => {
    const error = toAppError(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY());
    expect(error.code).toBe("MALFORMED_JSON");
    expect(error.kind).toBe("validation");
    expect(statusOf(error)).toBe(400);
    expect(error.message).toMatch(/not valid JSON/);
  });

  it("maps FST_ERR_CTP_EMPTY_JSON_BODY to 400 MALFORMED_JSON", () => {
    const error = toAppError(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY());
    expect(error.code).toBe("MALFORMED_JSON");
    expect(error.kind).toBe("validation");
    expect(statusOf(error)).toBe(400);
    expect(error.message).toMatch(/empty/);
  });

  it("maps a JSON SyntaxError with status 400 to MALFORMED_JSON", () => {
    const syntax = Object.assign(new SyntaxError("Unexpected token } in JSON at position 9"), {
      statusCode: 400,
    }) as unknown as FastifyError;
    const error = toAppError(syntax);
    expect(error.code).toBe("MALFORMED_JSON");
    expect(error.message).not.toContain("position 9");
  });

  it("maps another 4xx framework error to BAD_REQUEST", () => {
    const error = toAppError(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.kind).toBe("validation");
    expect(statusOf(error)).toBe(400);
  });

  it("returns an AppError unchanged", () => {
    const original = new AppError("CONTACT_NOT_FOUND", "not_found", "contact not found");
    expect(toAppError(original as unknown as FastifyError)).toBe(original);
  });

  it("hides an unknown error behind INTERNAL_ERROR", () => {
    const original = new Error(
      "connect ECONNREFUSED postgres://admin:hunter2@10.0.0.5:5432 relation contacts",
    ) as FastifyError;
    const error = toAppError(original);
    expect(error.code).toBe("INTERNAL_ERROR");
    expect(error.kind).toBe("internal");
    expect(statusOf(error)).toBe(500);
    expect(error.cause).toBe(original);
    for (const leak of ["hunter2", "10.0.0.5", "ECONNREFUSED", "contacts"]) {
      expect(error.message).not.toContain(leak);
      expect(JSON.stringify(errorBody(error, "req-1"))).not.toContain(leak);
    }
  });

  it("hides a 5xx framework error behind INTERNAL_ERROR", () => {
    const original = Object.assign(new Error("reply already sent at handler.js:12"), {
      code: "FST_ERR_SOMETHING",
      statusCode: 500,
    }) as FastifyError;
    const error = toAppError(original);
    expect(error.code).toBe("INTERNAL_ERROR");
    expect(error.message).not.toContain("handler.js");
  });
});

describe("statusOf", () => {
  const expected: Record<ErrorKind, number> = {
    validation: 400,
    unauthorized: 401,
    forbidden: 403,
    not_found: 404,
    conflict: 409,
    payload_too_large: 413,
    unsupported_media_type: 415,
    unprocessable: 422,
    rate_limited: 429,
    internal: 500,
    integration: 502,
    unavailable: 503,
    timeout: 504,
  };

  it.each(Object.entries(expected) as [ErrorKind, number][])("%s -> %i", (kind, status) => {
    expect(statusOf(new AppError("X", kind, "x"))).toBe(status);
  });
});

describe("errorBody", () => {
  it("omits details when there are none", () => {
    const body = errorBody(new AppError("CONTACT_NOT_FOUND", "not_found", "gone"), "req-42");
    expect(body).toEqual({
      error: { code: "CONTACT_NOT_FOUND", message: "gone", requestId: "req-42" },
    });
    expect("details" in body.error).toBe(false);
    expect(JSON.stringify(body)).not.toContain("details");
  });

  it("includes details when present", () => {
    const details = { fields: [{ field: "body.name", message: "required" }] };
    const body = errorBody(
      new AppError("VALIDATION_FAILED", "validation", "invalid", { details }),
      "req-7",
    );
    expect(body).toEqual({
      error: { code: "VALIDATION_FAILED", message: "invalid", details, requestId: "req-7" },
    });
  });
});

describe("handleError", () => {
  function fakes() {
    const log = { error: vi.fn(), info: vi.fn() };
    const request = { id: "req-9", log } as unknown as FastifyRequest;
    const sent: { status?: number; headers: Record<string, string>; body?: unknown } = {
      headers: {},
    };
    const reply = {
      header: vi.fn((name: string, value: string) => {
        sent.headers[name] = value;
        return reply;
      }),
      code: vi.fn((status: number) => {
        sent.status = status;
        return reply;
      }),
      send: vi.fn((body: unknown) => {
        sent.body = body;
        return reply;
      }),
    };
    return { request, reply: reply as unknown as FastifyReply, log, sent };
  }

  it("answers with the mapped status and body and logs a 4xx at info", () => {
    const { request, reply, log, sent } = fakes();
    handleError(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), request, reply);
    expect(sent.status).toBe(413);
    expect(sent.body).toEqual({
      error: {
        code: "PAYLOAD_TOO_LARGE",
        message: "The request body is too large",
        requestId: "req-9",
      },
    });
    expect(log.info).toHaveBeenCalledTimes(1);
    expect(log.error).not.toHaveBeenCalled();
  });

  it("logs a 5xx with the original error and answers generically", () => {
    const { request, reply, log, sent } = fakes();
    const original = new Error("secret internals") as FastifyError;
    handleError(original, request, reply);
    expect(sent.status).toBe(500);
    expect(JSON.stringify(sent.body)).not.toContain("secret internals");
    expect(log.error).toHaveBeenCalledWith(
      expect.objectContaining({ err: original, code: "INTERNAL_ERROR" }),
      expect.any(String),
    );
  });

  it("sets Retry-After when the error carries one", () => {
    const { request, reply, sent } = fakes();
    const unavailable = new AppError("DATABASE_UNAVAILABLE", "unavailable", "down", {
      retryAfterSeconds: 3,
    });
    handleError(unavailable as unknown as FastifyError, request, reply);
    expect(sent.status).toBe(503);
    expect(sent.headers["retry-after"]).toBe("3");
  });

  it("sets no Retry-After otherwise", () => {
    const { request, reply, sent } = fakes();
    handleError(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(), request, reply);
    expect(sent.headers).toEqual({});
  });
});
