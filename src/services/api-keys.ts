import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Kysely } from "kysely";
import type { Role } from "../domain/roles.ts";
import type { Queryable } from "../platform/db/database.ts";
import type { DB } from "../platform/db/schema.ts";
import { notFound } from "../platform/errors.ts";
import { uuidv7 } from "../platform/ids.ts";
import { cacheRef, type EntityCache } from "./entity-cache.ts";
import type { UnitOfWork } from "./unit-of-work.ts";

export interface ApiKeyView {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface Principal {
  projectId: string;
  keyId: string;
  role: Role;
}

const KEY_PREFIX = "vtr_";

/** Keys carry 256 random bits, so a fast SHA-256 is a safe hash: no guessing is feasible. */
export const hashApiKey = (key: string) => createHash("sha256").update(key).digest("hex");

export const constantTimeEquals = (a: string, b: string): boolean => {
  const left = createHash("sha256").update(a).digest();
  const right = createHash("sha256").update(b).digest();
  return timingSafeEqual(left, right);
};

/** Touching last_used_at on every request would add a write per call; once a minute is enough. */
const TOUCH_INTERVAL_MS = 60_000;

export class ApiKeys {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly uow: UnitOfWork,
    private readonly cache: EntityCache,
  ) {}

  /** Creates a key and returns it in clear text: the only time it is ever visible. */
  async create(
    projectId: string,
    input: { name: string; role: Role },
    db: Queryable = this.db,
  ): Promise<{ key: string; apiKey: ApiKeyView }> {
    const key = `${KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
    return this.uow.run(async ({ trx, emit }) => {
      const row = await trx
        .insertInto("api_keys")
        .values({
          id: uuidv7(),
          project_id: projectId,
          name: input.name,
          role: input.role,
          key_prefix: key.slice(0, 12),
          key_hash: hashApiKey(key),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      emit("api_key.created", {
        projectId,
        aggregateId: row.id,
        data: { apiKeyId: row.id, name: row.name, role: row.role },
      });
      return { key, apiKey: toView(row) };
    }, db);
  }

  /**
   * The key's principal, read through the cache on every request. The entry is keyed by
   * the key's hash (the key itself is never stored) and deleted when the key is revoked;
   * unknown keys are cached as misses for the negative TTL.
   */
  async authenticate(key: string): Promise<Principal | undefined> {
    if (!key.startsWith(KEY_PREFIX) || key.length > 100) return undefined;
    const hash = hashApiKey(key);
    const principal = await this.cache.read(cacheRef.apiKey(hash), () => this.lookup(hash));
    if (principal) this.touch(principal.keyId);
    return principal;
  }

  private async lookup(hash: string): Promise<Principal | undefined> {
    const row = await this.db
      .selectFrom("api_keys")
      .innerJoin("projects", "projects.id", "api_keys.project_id")
      .select(["api_keys.id", "api_keys.project_id", "api_keys.role"])
      .where("api_keys.key_hash", "=", hash)
      .where("api_keys.revoked_at", "is", null)
      .executeTakeFirst();
    return row && { projectId: row.project_id, keyId: row.id, role: row.role };
  }

  async list(projectId: string): Promise<ApiKeyView[]> {
    const rows = await this.db
      .selectFrom("api_keys")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("revoked_at", "is", null)
      .orderBy("id", "desc")
      .execute();
    return rows.map(toView);
  }

  /** Revokes a key; it stops authenticating as soon as this returns, on every instance. */
  async revoke(projectId: string, id: string): Promise<void> {
    await this.uow.run(async (context) => {
      const revoked = await context.trx
        .updateTable("api_keys")
        .set({ revoked_at: new Date() })
        .where("project_id", "=", projectId)
        .where("id", "=", id)
        .where("revoked_at", "is", null)
        .returning("key_hash")
        .executeTakeFirst();
      if (!revoked) throw notFound("api_key");
      this.cache.afterCommit(context, cacheRef.apiKey(revoked.key_hash));
      context.emit("api_key.revoked", { projectId, aggregateId: id, data: { apiKeyId: id } });
    });
  }

  private touch(id: string): void {
    const now = Date.now();
    if (now - (this.touched.get(id) ?? 0) < TOUCH_INTERVAL_MS) return;
    this.touched.set(id, now);
    // Best effort and off the request path: a lost touch only delays a statistic.
    void this.db
      .updateTable("api_keys")
      .set({ last_used_at: new Date(now) })
      .where("id", "=", id)
      .execute()
      .catch(() => this.touched.delete(id));
  }
}

type ApiKeyRow = {
  id: string;
  name: string;
  role: Role;
  key_prefix: string;
  created_at: Date;
  last_used_at: Date | null;
};

const toView = (row: ApiKeyRow): ApiKeyView => ({
  id: row.id,
  name: row.name,
  role: row.role,
  prefix: row.key_prefix,
  createdAt: row.created_at.toISOString(),
  lastUsedAt: row.last_used_at?.toISOString() ?? null,
});
