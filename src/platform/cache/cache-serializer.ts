import type { CacheSerializer } from "bentocache/types";

const DATE = "$date";

/**
 * JSON that keeps Dates: entities carry `createdAt` and friends, and a cached read must
 * answer the same types as the database read it replaces. A Date becomes
 * `{"$date": iso}` and back.
 */
export const cacheSerializer: CacheSerializer = {
  serialize: (value: unknown) =>
    JSON.stringify(value, function (this: Record<string, unknown>, key: string, json: unknown) {
      const original = this[key];
      return original instanceof Date ? { [DATE]: original.toISOString() } : json;
    }),
  // The reviver visits every value: skip it for the (common) entries without a Date.
  deserialize: (text: string) =>
    text.includes(`"${DATE}"`) ? JSON.parse(text, revive) : (JSON.parse(text) as unknown),
};

function revive(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const iso = (value as Record<string, unknown>)[DATE];
    if (keys.length === 1 && typeof iso === "string") return new Date(iso);
  }
  return value;
}
