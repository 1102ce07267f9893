import type { Transaction } from "kysely";
import type { DomainEvent } from "../domain/events/domain-event.ts";
import type { EventData } from "../domain/events/event-catalogue.ts";
import type { EventConsumer } from "../platform/bus/event-bus.ts";
import type { DB } from "../platform/db/schema.ts";
import { cacheRef, type CacheRef, type EntityCache } from "./entity-cache.ts";

/** Event types that mean a cached entry changed; the writers invalidate these directly too. */
export const INVALIDATING_EVENTS = [
  "contact.updated",
  "contact.deleted",
  "api_key.revoked",
  "channel.status_changed",
  "session.started",
  "session.ended",
] as const;

type InvalidatingEvent = (typeof INVALIDATING_EVENTS)[number];

/**
 * The durable second path of invalidation. Writers delete entries right after their
 * commit, but that delete lives in one process: if it crashed before, or Redis could not
 * be reached then, the entry would outlive the write (until its TTL). The outbox event
 * of the same commit reaches this consumer on some instance, which deletes again through
 * Redis and the bus, so every instance drops its copy. Until Redis has confirmed the
 * deletes (no failed delete waiting for replay), the delivery fails and is retried.
 */
export function cacheInvalidationConsumer(deps: {
  cache: EntityCache;
  /** True when no cache delete is waiting for Redis (always true without Redis). */
  confirmed: () => boolean;
}): EventConsumer {
  return {
    name: "cache-invalidation",
    eventTypes: [...INVALIDATING_EVENTS],
    // Retried with backoff while Redis is away; minutes of outage still end applied.
    maxAttempts: 20,
    async handle(event, trx) {
      const refs = await refsOfEvent(event, trx);
      await deps.cache.invalidate(refs, { repeat: false });
      if (!deps.confirmed())
        throw new Error("cache invalidation not confirmed by Redis yet; will retry");
    },
  };
}

/** The cache entries an event's change may have made stale. */
export async function refsOfEvent(event: DomainEvent, trx: Transaction<DB>): Promise<CacheRef[]> {
  const { projectId } = event;
  const type = event.type as InvalidatingEvent;
  switch (type) {
    case "contact.updated": {
      const { contact } = event.data as EventData<"contact.updated">;
      return [
        cacheRef.contact(projectId, contact.id),
        ...(contact.phone ? [cacheRef.contactBy(projectId, "phone", contact.phone)] : []),
      ];
    }
    case "contact.deleted": {
      const { contactId } = event.data as EventData<"contact.deleted">;
      return [cacheRef.contact(projectId, contactId)];
    }
    case "api_key.revoked": {
      // Entries are keyed by the key's hash, which events never carry.
      const { apiKeyId } = event.data as EventData<"api_key.revoked">;
      const key = await trx
        .selectFrom("api_keys")
        .select("key_hash")
        .where("id", "=", apiKeyId)
        .executeTakeFirst();
      return key ? [cacheRef.apiKey(key.key_hash)] : [];
    }
    case "channel.status_changed": {
      const { channelId } = event.data as EventData<"channel.status_changed">;
      const channel = await trx
        .selectFrom("channels")
        .select(["inbound_id"])
        .where("id", "=", channelId)
        .executeTakeFirst();
      return [
        cacheRef.channel(projectId, channelId),
        ...(channel ? [cacheRef.channelInbound(channel.inbound_id)] : []),
      ];
    }
    case "session.started":
    case "session.ended": {
      const { contactId, channelId } = event.data as EventData<"session.started">;
      return [cacheRef.activeSession(projectId, contactId, channelId)];
    }
    default:
      return [];
  }
}
