import type { Kysely } from "kysely";
import type { DB } from "../platform/db/schema.ts";

export type IdempotencyClaim =
  | { kind: "claimed" }
  | { kind: "replay"; statusCode: number; body: unknown }
  | { kind: "mismatch" }
  | { kind: "in_progress" };

/** A claim not completed within this time is presumed abandoned (crashed process). */
const LOCK_MS = 60_000;

/**
 * Idempotency-Key records, per scope (a project, or "admin" for ADMIN_TOKEN calls). A key is claimed before the handler runs, so two
 * concurrent requests with one key never both execute; the response is stored after.
 */
export class IdempotencyStore {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly ttlHours: number,
  ) {}

  async claim(scope: string, key: string, requestHash: string): Promise<IdempotencyClaim> {
    const now = new Date();
    const inserted = await this.db
      .insertInto("idempotency_keys")
      .values({
        scope,
        key,
        request_hash: requestHash,
        locked_until: new Date(now.getTime() + LOCK_MS),
        expires_at: new Date(now.getTime() + this.ttlHours * 3_600_000),
      })
      .onConflict((oc) => oc.columns(["scope", "key"]).doNothing())
      .returning("key")
      .executeTakeFirst();
    if (inserted) return { kind: "claimed" };

    const row = await this.db
      .selectFrom("idempotency_keys")
      .selectAll()
      .where("scope", "=", scope)
      .where("key", "=", key)
      .executeTakeFirst();
    if (!row) return this.claim(scope, key, requestHash); // pruned in between
    if (row.expires_at <= now) {
      await this.release(scope, key);
      return this.claim(scope, key, requestHash);
    }
    if (row.request_hash !== requestHash) return { kind: "mismatch" };
    if (row.status_code !== null)
      return { kind: "replay", statusCode: row.status_code, body: row.response_body };
    if (row.locked_until > now) return { kind: "in_progress" };
    // Abandoned claim: take it over atomically (only one taker wins the update).
    const taken = await this.db
      .updateTable("idempotency_keys")
      .set({ locked_until: new Date(now.getTime() + LOCK_MS) })
      .where("scope", "=", scope)
      .where("key", "=", key)
      .where("status_code", "is", null)
      .where("locked_until", "<=", now)
      .executeTakeFirst();
    return taken.numUpdatedRows > 0n ? { kind: "claimed" } : { kind: "in_progress" };
  }

  async complete(scope: string, key: string, statusCode: number, body: unknown): Promise<void> {
    await this.db
      .updateTable("idempotency_keys")
      .set({ status_code: statusCode, response_body: JSON.stringify(body ?? null) })
      .where("scope", "=", scope)
      .where("key", "=", key)
      .execute();
  }

  /** Forget a claim whose request failed in a way the client may retry (5xx). */
  async release(scope: string, key: string): Promise<void> {
    await this.db
      .deleteFrom("idempotency_keys")
      .where("scope", "=", scope)
      .where("key", "=", key)
      .execute();
  }

  async pruneExpired(now = new Date()): Promise<number> {
    const result = await this.db
      .deleteFrom("idempotency_keys")
      .where("expires_at", "<", now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
