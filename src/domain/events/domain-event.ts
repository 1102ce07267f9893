/**
 * The envelope every domain event travels in, from the outbox to the bus, consumers,
 * the live stream and (later) integrator webhooks. Events are past-tense facts.
 */
export interface DomainEvent<T = unknown> {
  id: string;
  type: string;
  version: number;
  occurredAt: string;
  projectId: string;
  aggregate: { type: string; id: string };
  data: T;
}

/**
 * Event-type patterns as integrators and consumers write them: an exact type
 * (`contact.created`), a family (`contact.*`) or everything (`*`).
 */
export function matchesEventType(pattern: string, type: string): boolean {
  if (pattern === "*" || pattern === type) return true;
  return pattern.endsWith(".*") && type.startsWith(pattern.slice(0, -1));
}
