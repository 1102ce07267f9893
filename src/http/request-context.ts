import type { Role } from "../domain/roles.ts";
import type { Principal } from "../services/api-keys.ts";

/** How a route authenticates: an API key with a minimum role, the ADMIN_TOKEN, or not at all. */
export type RouteAuth =
  { kind: "apiKey"; role: Role } | { kind: "adminToken" } | { kind: "public" };

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: RouteAuth;
    /**
     * Top-level response fields that hold a secret shown once (a new API key). They are
     * never stored with an Idempotency-Key record; a replay answers them as null.
     */
    secretFields?: string[];
  }
  interface FastifyRequest {
    principal: Principal | undefined;
    /** Set when this request claimed an Idempotency-Key and must record its response. */
    idempotency: { scope: string; key: string } | undefined;
  }
}

export const apiKey = (role: Role) => ({ auth: { kind: "apiKey", role } as RouteAuth });
export const adminToken = { auth: { kind: "adminToken" } as RouteAuth };
/** Marks response fields as shown-once secrets (see FastifyContextConfig.secretFields). */
export const withSecrets = <T extends object>(config: T, ...secretFields: string[]) => ({
  ...config,
  secretFields,
});
export const publicRoute = { auth: { kind: "public" } as RouteAuth };
