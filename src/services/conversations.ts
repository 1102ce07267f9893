import { sql, type Kysely, type Selectable } from "kysely";
import type { ConversationSessionsTable, DB } from "../platform/db/schema.ts";
import { notFound } from "../platform/errors.ts";
import { uuidv7 } from "../platform/ids.ts";
import { cacheRef, type EntityCache } from "./entity-cache.ts";
import { decodeCursor, toPage, type Page } from "./pagination.ts";
import type { UnitOfWork, UnitOfWorkContext } from "./unit-of-work.ts";

export interface Session {
  id: string;
  contactId: string;
  channelId: string;
  status: "active" | "ended";
  endReason: string | null;
  startedAt: string;
  lastActivityAt: string;
  endedAt: string | null;
  messageCount: number;
  inboundCount: number;
  outboundCount: number;
  timeoutMinutes: number;
  firstResponseSeconds: number | null;
  /** Sum over the session of the time from a customer's first unanswered message to our reply. */
  totalWaitSeconds: number;
}

type SessionRow = Selectable<ConversationSessionsTable>;

/** Schedules the durable "end this session if idle" check, in the caller's transaction. */
export type ScheduleTimeout = (
  context: UnitOfWorkContext,
  sessionId: string,
  at: Date,
) => Promise<void>;

/**
 * Conversation sessions: one active session per contact and channel. Each session has
 * one pending timeout job at a time; when it fires early (there was activity) it
 * re-schedules itself for the new deadline, so activity costs no job churn and nothing
 * sweeps the table.
 */
export class Conversations {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly uow: UnitOfWork,
    private readonly scheduleTimeout: ScheduleTimeout,
    private readonly cache: EntityCache,
  ) {}

  /** Records a message in the contact's active session (starting one when needed). */
  async recordActivity(
    context: UnitOfWorkContext,
    input: {
      projectId: string;
      contactId: string;
      channelId: string;
      at: Date;
      direction: "inbound" | "outbound";
      timeoutMinutes: number;
    },
  ): Promise<string> {
    const { trx } = context;
    let session = await trx
      .selectFrom("conversation_sessions")
      .selectAll()
      .where("contact_id", "=", input.contactId)
      .where("channel_id", "=", input.channelId)
      .where("status", "=", "active")
      .forUpdate()
      .executeTakeFirst();
    if (session && deadlineOf(session) <= input.at) {
      // Idle past its timeout but the job has not run yet: end it at its deadline.
      await this.end(context, session, "inactivity_timeout", deadlineOf(session));
      session = undefined;
    }
    if (!session) session = await this.start(context, input);
    // Counts and times change with every message: the cached active session goes.
    this.cache.afterCommit(
      context,
      cacheRef.activeSession(input.projectId, input.contactId, input.channelId),
    );
    const inbound = input.direction === "inbound";
    const respondsNow = !inbound && session.last_inbound_at !== null;
    const firstResponse =
      respondsNow && session.first_response_at === null && session.first_inbound_at !== null;
    await trx
      .updateTable("conversation_sessions")
      .set({
        message_count: sql`message_count + 1`,
        inbound_count: sql`inbound_count + ${inbound ? 1 : 0}`,
        outbound_count: sql`outbound_count + ${inbound ? 0 : 1}`,
        last_activity_at: sql`greatest(last_activity_at, ${input.at})`,
        ...(inbound
          ? {
              first_inbound_at: sql`coalesce(first_inbound_at, ${input.at})`,
              last_inbound_at: sql`coalesce(last_inbound_at, ${input.at})`,
            }
          : {}),
        ...(firstResponse
          ? {
              first_response_at: input.at,
              first_response_seconds: Math.max(
                0,
                Math.round((input.at.getTime() - session.first_inbound_at!.getTime()) / 1000),
              ),
            }
          : {}),
        // Waiting time: from the first unanswered inbound message to our answer.
        ...(respondsNow
          ? {
              total_wait_seconds: sql`total_wait_seconds + ${Math.max(0, Math.round((input.at.getTime() - session.last_inbound_at!.getTime()) / 1000))}`,
              last_inbound_at: null,
            }
          : {}),
      } as never)
      .where("id", "=", session.id)
      .execute();
    return session.id;
  }

  /** The timeout job: ends the session if idle, else schedules itself for the new deadline. */
  async checkTimeout(sessionId: string, now = new Date()): Promise<void> {
    await this.uow.run(async (context) => {
      const session = await context.trx
        .selectFrom("conversation_sessions")
        .selectAll()
        .where("id", "=", sessionId)
        .forUpdate()
        .executeTakeFirst();
      if (!session || session.status !== "active") return;
      const deadline = deadlineOf(session);
      if (deadline > now) await this.scheduleTimeout(context, session.id, deadline);
      else await this.end(context, session, "inactivity_timeout", deadline);
    });
  }

  async close(projectId: string, id: string, reason: string | undefined): Promise<Session> {
    return this.uow.run(async (context) => {
      const session = await context.trx
        .selectFrom("conversation_sessions")
        .selectAll()
        .where("project_id", "=", projectId)
        .where("id", "=", id)
        .forUpdate()
        .executeTakeFirst();
      if (!session) throw notFound("session");
      if (session.status === "active")
        await this.end(context, session, reason ?? "manual_close", new Date());
      return toSession(await this.row(projectId, id, context.trx));
    });
  }

  async get(projectId: string, id: string): Promise<Session> {
    return toSession(await this.row(projectId, id));
  }

  /** The contact's active session on the channel, or undefined; through the cache. */
  async active(projectId: string, contactId: string, channelId: string) {
    return this.cache.read(cacheRef.activeSession(projectId, contactId, channelId), async () => {
      const row = await this.db
        .selectFrom("conversation_sessions")
        .selectAll()
        .where("project_id", "=", projectId)
        .where("contact_id", "=", contactId)
        .where("channel_id", "=", channelId)
        .where("status", "=", "active")
        .executeTakeFirst();
      return row && toSession(row);
    });
  }

  async list(
    projectId: string,
    filters: {
      contactId?: string;
      channelId?: string;
      status?: "active" | "ended";
      limit: number;
      cursor?: string;
    },
  ): Promise<Page<Session>> {
    const { contactId, channelId, status, cursor } = filters;
    // At most one session per contact and channel is active (a unique index): that page
    // is the cached active session.
    if (contactId && channelId && status === "active" && !cursor) {
      const session = await this.active(projectId, contactId, channelId);
      return { data: session ? [session] : [], nextCursor: null };
    }
    let query = this.db
      .selectFrom("conversation_sessions")
      .selectAll()
      .where("project_id", "=", projectId);
    if (filters.contactId) query = query.where("contact_id", "=", filters.contactId);
    if (filters.channelId) query = query.where("channel_id", "=", filters.channelId);
    if (filters.status) query = query.where("status", "=", filters.status);
    if (filters.cursor) query = query.where("id", "<", decodeCursor(filters.cursor));
    const rows = await query
      .orderBy("id", "desc")
      .limit(filters.limit + 1)
      .execute();
    return toPage(rows, filters.limit, toSession);
  }

  private async start(
    context: UnitOfWorkContext,
    input: {
      projectId: string;
      contactId: string;
      channelId: string;
      at: Date;
      timeoutMinutes: number;
    },
  ): Promise<SessionRow> {
    const row = await context.trx
      .insertInto("conversation_sessions")
      .values({
        id: uuidv7(),
        project_id: input.projectId,
        contact_id: input.contactId,
        channel_id: input.channelId,
        status: "active",
        timeout_minutes: input.timeoutMinutes,
        started_at: input.at,
        last_activity_at: input.at,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    context.emit("session.started", {
      projectId: input.projectId,
      aggregateId: row.id,
      data: {
        sessionId: row.id,
        contactId: row.contact_id,
        channelId: row.channel_id,
        timeoutMinutes: row.timeout_minutes,
      },
    });
    await this.scheduleTimeout(context, row.id, deadlineOf(row));
    return row;
  }

  private async end(context: UnitOfWorkContext, session: SessionRow, reason: string, at: Date) {
    this.cache.afterCommit(
      context,
      cacheRef.activeSession(session.project_id, session.contact_id, session.channel_id),
    );
    await context.trx
      .updateTable("conversation_sessions")
      .set({ status: "ended", end_reason: reason, ended_at: at })
      .where("id", "=", session.id)
      .execute();
    context.emit("session.ended", {
      projectId: session.project_id,
      aggregateId: session.id,
      data: {
        sessionId: session.id,
        contactId: session.contact_id,
        channelId: session.channel_id,
        endReason: reason,
        messageCount: session.message_count,
        firstResponseSeconds: session.first_response_seconds,
      },
    });
  }

  private async row(projectId: string, id: string, db: Kysely<DB> = this.db) {
    const row = await db
      .selectFrom("conversation_sessions")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw notFound("session");
    return row;
  }
}

const deadlineOf = (s: SessionRow) =>
  new Date(s.last_activity_at.getTime() + s.timeout_minutes * 60_000);

export function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    contactId: row.contact_id,
    channelId: row.channel_id,
    status: row.status,
    endReason: row.end_reason,
    startedAt: row.started_at.toISOString(),
    lastActivityAt: row.last_activity_at.toISOString(),
    endedAt: row.ended_at?.toISOString() ?? null,
    messageCount: row.message_count,
    inboundCount: row.inbound_count,
    outboundCount: row.outbound_count,
    timeoutMinutes: row.timeout_minutes,
    firstResponseSeconds: row.first_response_seconds,
    totalWaitSeconds: Number(row.total_wait_seconds),
  };
}
