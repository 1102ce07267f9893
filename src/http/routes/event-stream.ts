import type { FastifyReply, FastifyRequest } from "fastify";
import { matchesEventType, type DomainEvent } from "../../domain/events/domain-event.ts";
import type { EventBus } from "../../platform/bus/event-bus.ts";
import type { EventHistory } from "../../services/event-history.ts";

export interface EventStreamDependencies {
  bus: EventBus;
  history: EventHistory;
  heartbeatMs: number;
  /** Enders of the open streams, so a closing server can end them (it waits for them). */
  open?: Set<() => void>;
}

const REPLAY_PAGE = 500;
/** Ids already written, remembered to drop live duplicates of replayed events. */
const SEEN_LIMIT = 10_000;

/**
 * Server-sent events for one project. Live events are buffered from the moment the
 * client connects; the outbox is replayed from Last-Event-ID; then the buffer is flushed
 * and the stream goes live. Ids seen are remembered so nothing is written twice and
 * nothing committed after the cursor is missed.
 */
export async function streamEvents(
  deps: EventStreamDependencies,
  request: FastifyRequest,
  reply: FastifyReply,
  options: { projectId: string; lastEventId: string | undefined; patterns: string[] },
): Promise<void> {
  const wanted = (event: DomainEvent) =>
    event.projectId === options.projectId &&
    options.patterns.some((p) => matchesEventType(p, event.type));
  const seen = new Set<string>();
  const buffer: DomainEvent[] = [];
  let live = false;
  const raw = reply.raw;
  // A write after end() is an uncaught error: the stream may be ended by a shutdown.
  const send = (text: string) => {
    if (!raw.writableEnded) raw.write(text);
  };

  const write = (event: DomainEvent) => {
    if (seen.has(event.id)) return;
    seen.add(event.id);
    if (seen.size > SEEN_LIMIT) seen.delete(seen.values().next().value as string);
    send(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  };
  const unsubscribe = deps.bus.onLive((event) => {
    if (!wanted(event)) return;
    if (live) write(event);
    else buffer.push(event);
  });

  reply.hijack();
  raw.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
    "x-request-id": request.id,
  });
  send(`retry: 2000\n: connected\n\n`);
  const heartbeat = setInterval(
    () => send(`: heartbeat ${new Date().toISOString()}\n\n`),
    deps.heartbeatMs,
  );
  const stop = () => {
    clearInterval(heartbeat);
    unsubscribe();
    deps.open?.delete(end);
  };
  const end = () => {
    stop();
    raw.end();
  };
  deps.open?.add(end);
  const closed = new Promise<void>((resolve) => raw.on("close", resolve));
  closed.then(stop);

  try {
    if (options.lastEventId) {
      let position = await deps.history.positionOf(options.projectId, options.lastEventId);
      if (position === undefined)
        send(`event: reset\ndata: {"reason":"unknown or expired Last-Event-ID"}\n\n`);
      while (position !== undefined && !raw.destroyed && !raw.writableEnded) {
        const page = await deps.history.after(options.projectId, position, REPLAY_PAGE);
        for (const { event } of page) if (wanted(event)) write(event);
        position = page.length === REPLAY_PAGE ? page.at(-1)?.seq : undefined;
      }
    }
  } catch (error) {
    request.log.warn({ err: error }, "event stream replay failed");
    send(
      `event: error\ndata: {"reason":"replay failed; reconnect with the same Last-Event-ID"}\n\n`,
    );
    raw.end();
    return;
  }
  for (const event of buffer.splice(0)) write(event);
  live = true;
}
