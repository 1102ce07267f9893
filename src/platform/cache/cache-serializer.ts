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
  deserialize: (text: string) =>
    JSON.parse(text, (_key, value: unknown) => {
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        const keys = Object.keys(value);
        const iso = (value as Record<string, unknown>)[DATE];
        if (keys.length === 1 && typeof iso === "string") return new Date(iso);
      }
      return value;
    }) as unknown,
};
