import type { FastifyRequest } from "fastify";
import { roleAllows } from "../domain/roles.ts";
import { constantTimeEquals, type ApiKeys } from "../services/api-keys.ts";
import { AppError } from "../platform/errors.ts";

const bearer = (request: FastifyRequest): string | undefined => {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
};

const unauthorized = (message: string) => new AppError("UNAUTHORIZED", "unauthorized", message);

/**
 * onRequest hook: runs before the body is read, so a caller without a valid key learns
 * nothing about validation and costs us no parsing.
 */
export function authenticate(apiKeys: ApiKeys, adminToken: string | undefined) {
  return async (request: FastifyRequest) => {
    request.principal = undefined;
    request.idempotency = undefined;
    const auth = request.routeOptions.config.auth;
    if (!auth || auth.kind === "public") return;
    const token = bearer(request);
    if (auth.kind === "adminToken") {
      if (!adminToken)
        throw new AppError("ADMIN_DISABLED", "forbidden", "Set ADMIN_TOKEN to enable this route");
      if (!token || !constantTimeEquals(token, adminToken))
        throw unauthorized("A valid admin token is required");
      return;
    }
    if (!token) throw unauthorized("Send an API key as 'Authorization: Bearer <key>'");
    const principal = await apiKeys.authenticate(token);
    if (!principal) throw unauthorized("The API key is not valid");
    if (!roleAllows(principal.role, auth.role)) {
      throw new AppError("FORBIDDEN", "forbidden", `This action needs the ${auth.role} role`, {
        details: { requiredRole: auth.role, role: principal.role },
      });
    }
    request.principal = principal;
  };
}

/** The principal of a route declared with apiKey(); absence is a programming error. */
export function principalOf(request: FastifyRequest) {
  if (!request.principal)
    throw new AppError("UNAUTHORIZED", "unauthorized", "Authentication required");
  return request.principal;
}
