import { matchesEventType } from "./events/domain-event.ts";
import { EVENT_TYPES } from "./events/event-catalogue.ts";

/**
 * Event-type filters of a webhook endpoint: `*`, a catalogue type (`message.received`) or
 * a family wildcard (`contact.*`) that matches at least one catalogue type. Anything else
 * is refused at creation rather than silently never matching.
 */
export function invalidEventTypePatterns(patterns: readonly string[]): string[] {
  return patterns.filter((pattern) => !EVENT_TYPES.some((type) => matchesEventType(pattern, type)));
}

export const endpointWants = (patterns: readonly string[], type: string): boolean =>
  patterns.some((pattern) => matchesEventType(pattern, type));
