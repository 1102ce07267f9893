import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { AppError, isAppError, type ErrorKind } from "../platform/errors.ts";

const STATUS: Record<ErrorKind, number> = {
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

export const statusOf = (error: AppError): number => STATUS[error.kind];

type AjvIssue = {
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
};

/** Turns Ajv's issues into one entry per field: `{ field: "body.email", message }`. */
function fieldsOf(issues: AjvIssue[], part: string | undefined) {
  return issues.map((issue) => {
    const segments = issue.instancePath.split("/").filter(Boolean);
    const extra = issue.params["missingProperty"] ?? issue.params["additionalProperty"];
    if (typeof extra === "string") segments.push(extra);
    const message =
      issue.params["additionalProperty"] !== undefined
        ? "is not an allowed field"
        : issue.params["allowedValues"] !== undefined
          ? `must be one of ${(issue.params["allowedValues"] as unknown[]).join(", ")}`
          : (issue.message ?? "is invalid");
    return { field: [part ?? "body", ...segments].join("."), message };
  });
}

/** Framework errors (parsing, limits) mapped to our codes; anything unknown is internal. */
export function toAppError(error: FastifyError): AppError {
  if (isAppError(error)) return error;
  if (error.validation) {
    return new AppError("VALIDATION_FAILED", "validation", "The request is invalid", {
      details: { fields: fieldsOf(error.validation as AjvIssue[], error.validationContext) },
    });
  }
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new AppError(
        "PAYLOAD_TOO_LARGE",
        "payload_too_large",
        "The request body is too large",
      );
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new AppError(
        "UNSUPPORTED_MEDIA_TYPE",
        "unsupported_media_type",
        "Send application/json",
      );
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new AppError("MALFORMED_JSON", "validation", "The body is empty but declared as JSON");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new AppError("MALFORMED_JSON", "validation", "The body is not valid JSON");
    default:
      break;
  }
  if (error instanceof SyntaxError && error.statusCode === 400) {
    return new AppError("MALFORMED_JSON", "validation", "The body is not valid JSON");
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return new AppError("BAD_REQUEST", "validation", error.message);
  }
  return new AppError("INTERNAL_ERROR", "internal", "Something went wrong on our side", {
    cause: error,
  });
}

/** SQLSTATEs for text PostgreSQL cannot store: NUL in text (22021) or in jsonb (22P05). */
const UNSTORABLE_TEXT = new Set(["22021", "22P05"]);

/** Paths of the strings holding a NUL character, e.g. `body.customFields.note`. */
const nulFields = (value: unknown, path: string): string[] => {
  if (typeof value === "string") return value.includes("\u0000") ? [path] : [];
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, item]) => nulFields(item, `${path}.${key}`));
};

/** Client text the database refused (a NUL character) is a 400 naming the field, not a 500. */
function unstorableText(request: FastifyRequest): AppError {
  const paths = [...nulFields(request.query, "querystring"), ...nulFields(request.body, "body")];
  const fields = (paths.length > 0 ? paths : ["body"]).map((field) => ({
    field,
    message: "must not contain NUL (\\u0000) characters",
  }));
  return new AppError("VALIDATION_FAILED", "validation", "The request is invalid", {
    details: { fields },
  });
}

const PART = /^(body|querystring|params|headers)(\.|$)/;

/**
 * Services name fields as the API does (`phone`, `cursor`); schema errors name the
 * request part too (`body.phone`). Give service errors the same form: a reading request
 * takes its input from the query string, a writing one from the body.
 */
function qualifyFields(error: AppError, request: FastifyRequest): AppError {
  const fields = error.details?.["fields"];
  if (error.kind !== "validation" || !Array.isArray(fields)) return error;
  const part = request.method === "GET" || request.method === "DELETE" ? "querystring" : "body";
  const qualified = (fields as { field: string; message: string }[]).map((f) =>
    PART.test(f.field) ? f : { ...f, field: `${part}.${f.field}` },
  );
  return new AppError(error.code, error.kind, error.message, {
    ...error,
    details: { ...error.details, fields: qualified },
  });
}

export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const appError = qualifyFields(
    UNSTORABLE_TEXT.has(String(error.code)) ? unstorableText(request) : toAppError(error),
    request,
  );
  const status = statusOf(appError);
  if (status >= 500) request.log.error({ err: error, code: appError.code }, "request failed");
  else request.log.info({ code: appError.code }, "request rejected");
  if (appError.retryAfterSeconds !== undefined)
    reply.header("retry-after", String(appError.retryAfterSeconds));
  return reply.code(status).send(errorBody(appError, request.id));
}

/** The one error shape of API.md; 5xx messages are generic and never carry internals. */
export const errorBody = (error: AppError, requestId: string) => ({
  error: {
    code: error.code,
    message: error.message,
    ...(error.details === undefined ? {} : { details: error.details }),
    requestId,
  },
});
