import { Ajv, type Options } from "ajv";
import addFormats from "ajv-formats";
import type { FastifySchemaCompiler } from "fastify";

/**
 * Two validators: query strings and path params arrive as text and are coerced; bodies are
 * JSON and are not, so `"age": "12"` where a number is expected is a 400 rather than a
 * silent conversion. Unknown fields are rejected (never stripped) everywhere.
 */
const base: Options = {
  allErrors: true,
  removeAdditional: false,
  useDefaults: true,
  strict: false,
};

const make = (coerce: boolean) => {
  const ajv = new Ajv({ ...base, coerceTypes: coerce ? "array" : false });
  addFormats.default(ajv);
  return ajv;
};

export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const body = make(false);
  const text = make(true);
  return ({ schema, httpPart }) => (httpPart === "body" ? body : text).compile(schema as object);
}
