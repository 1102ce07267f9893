import type { Kysely } from "kysely";
import type { DB } from "../platform/db/schema.ts";
import { TokenBucket } from "../platform/resilience/token-bucket.ts";
import type { DeliveryTarget } from "./webhook-attempt.ts";
import type { WebhookEndpoints } from "./webhook-endpoints.ts";

/** Past this many entries the caches start over (deleted endpoints leave entries). */
const MAX_ENTRIES = 10_000;

/**
 * The dispatcher's view of endpoints: each loaded once per config_version (URL, headers
 * and secrets opened), and each endpoint's rate limit as a token bucket per instance.
 */
export class WebhookTargets {
  private readonly targets = new Map<
    string,
    { version: number; target: Promise<DeliveryTarget> }
  >();
  private readonly buckets = new Map<string, { perSecond: number; bucket: TokenBucket }>();

  constructor(private readonly deps: { db: Kysely<DB>; endpoints: WebhookEndpoints }) {}

  /** Milliseconds until the endpoint's rate limit allows an attempt (0: go now). */
  throttle(target: DeliveryTarget): number {
    const perSecond = target.rateLimitPerSecond;
    if (perSecond === null) return 0;
    let entry = this.buckets.get(target.id);
    if (!entry || entry.perSecond !== perSecond) {
      entry = { perSecond, bucket: new TokenBucket({ perSecond, burst: perSecond }) };
      this.buckets.set(target.id, entry);
    }
    // Never waits here: a throttled message goes back to the queue, due when a token is.
    const available = entry.bucket.available();
    if (available < 1) return ((1 - available) / perSecond) * 1000;
    // With a token available, acquire() takes it synchronously and resolves at once.
    void entry.bucket.acquire(0);
    return 0;
  }

  get(endpointId: string, version: number): Promise<DeliveryTarget> {
    const cached = this.targets.get(endpointId);
    if (cached && cached.version === version) return cached.target;
    const target = this.load(endpointId);
    // Deleted endpoints leave entries behind: start over rather than grow without bound.
    if (this.targets.size >= MAX_ENTRIES) this.targets.clear();
    if (this.buckets.size >= MAX_ENTRIES) this.buckets.clear();
    this.targets.set(endpointId, { version, target });
    // A failed load must not stick: the next claim tries again.
    target.catch(() => this.targets.delete(endpointId));
    return target;
  }

  private async load(endpointId: string): Promise<DeliveryTarget> {
    const { db, endpoints } = this.deps;
    const row = await db
      .selectFrom("webhook_endpoints")
      .selectAll()
      .where("id", "=", endpointId)
      .executeTakeFirstOrThrow();
    const secrets = await db
      .selectFrom("webhook_endpoint_secrets")
      .select(["secret_enc", "expires_at"])
      .where("endpoint_id", "=", endpointId)
      .orderBy("created_at", "desc")
      .execute();
    return {
      id: row.id,
      projectId: row.project_id,
      url: row.url,
      headers: endpoints.openHeaders(row.headers_enc),
      status: row.status,
      rateLimitPerSecond: row.rate_limit_per_second,
      secrets: secrets.map((s) => ({
        secret: endpoints.openSecret(s.secret_enc),
        expiresAt: s.expires_at ? s.expires_at.getTime() : null,
      })),
      version: row.config_version,
    };
  }
}
