import { randomBytes } from "node:crypto";
import type { Kysely, Selectable } from "kysely";
import { channelStatusFromSession } from "../domain/whatsapp-events.ts";
import type { SecretBox } from "../platform/crypto/secret-box.ts";
import type { ChannelsTable, ChannelStatus, DB } from "../platform/db/schema.ts";
import { AppError, notFound, validationError } from "../platform/errors.ts";
import { uuidv7 } from "../platform/ids.ts";
import { cacheRef, type CacheRef, type EntityCache } from "./entity-cache.ts";
import { decodeCursor, toPage, type Page } from "./pagination.ts";
import type { UnitOfWork, UnitOfWorkContext } from "./unit-of-work.ts";
import type { GatewayTarget, OutboundUrlGuard, WhatsAppGateway } from "./whatsapp-gateway.ts";

export interface Channel {
  id: string;
  name: string;
  type: "waha";
  status: ChannelStatus;
  waha: { baseUrl: string; session: string };
  sessionTimeoutMinutes: number | null;
  pipelineId: string | null;
  allowGroups: boolean;
  inboundUrl: string;
  createdAt: string;
  updatedAt: string;
}

export interface ChannelInput {
  name?: string;
  waha?: { baseUrl?: string; apiKey?: string; session?: string };
  sessionTimeoutMinutes?: number | null;
  /** A pipeline of the same project (else 404 PIPELINE_NOT_FOUND); null clears it. */
  pipelineId?: string | null;
  allowGroups?: boolean;
}

/** The WAHA events our inbound endpoint understands. */
export const WAHA_EVENTS = [
  "message",
  "message.any",
  "message.ack",
  "message.reaction",
  "message.edited",
  "message.revoked",
  "session.status",
];

export type ChannelRow = Selectable<ChannelsTable>;

/** WhatsApp channels: a WAHA session each, with its credentials sealed at rest. */
export class Channels {
  constructor(
    private readonly deps: {
      db: Kysely<DB>;
      uow: UnitOfWork;
      box: SecretBox;
      gateway: WhatsAppGateway;
      guard: OutboundUrlGuard;
      publicBaseUrl: string;
      cache: EntityCache;
    },
  ) {}

  inboundUrlOf(inboundId: string): string {
    return `${this.deps.publicBaseUrl.replace(/\/$/, "")}/v1/inbound/waha/${inboundId}`;
  }

  async create(projectId: string, input: Required<Pick<ChannelInput, "name">> & ChannelInput) {
    const waha = input.waha as { baseUrl: string; apiKey: string; session: string };
    const baseUrl = await this.checkBaseUrl(waha.baseUrl);
    if (input.pipelineId) await this.checkPipeline(projectId, input.pipelineId);
    const inboundSecret = randomBytes(32).toString("hex");
    const now = new Date();
    const row = await this.deps.db
      .insertInto("channels")
      .values({
        id: uuidv7(),
        project_id: projectId,
        name: input.name,
        type: "waha",
        waha_base_url: baseUrl,
        waha_session: waha.session,
        waha_api_key_enc: this.deps.box.encrypt(waha.apiKey),
        inbound_id: randomBytes(18).toString("base64url"),
        inbound_secret_enc: this.deps.box.encrypt(inboundSecret),
        session_timeout_minutes: input.sessionTimeoutMinutes ?? null,
        pipeline_id: input.pipelineId ?? null,
        allow_groups: input.allowGroups ?? false,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { ...this.toChannel(row), inboundSecret };
  }

  async get(projectId: string, id: string): Promise<Channel> {
    return this.toChannel(await this.row(projectId, id));
  }

  async list(projectId: string, limit: number, cursor?: string): Promise<Page<Channel>> {
    let query = this.deps.db
      .selectFrom("channels")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("deleted_at", "is", null);
    if (cursor) query = query.where("id", "<", decodeCursor(cursor));
    const rows = await query
      .orderBy("id", "desc")
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit, (r) => this.toChannel(r));
  }

  async update(projectId: string, id: string, input: ChannelInput): Promise<Channel> {
    const current = await this.row(projectId, id);
    const baseUrl =
      input.waha?.baseUrl === undefined ? undefined : await this.checkBaseUrl(input.waha.baseUrl);
    if (input.pipelineId) await this.checkPipeline(projectId, input.pipelineId);
    const row = await this.writing(current, () =>
      this.deps.db
        .updateTable("channels")
        .set({
          updated_at: new Date(),
          ...(input.name === undefined ? {} : { name: input.name }),
          ...(baseUrl === undefined ? {} : { waha_base_url: baseUrl }),
          ...(input.waha?.session === undefined ? {} : { waha_session: input.waha.session }),
          ...(input.waha?.apiKey === undefined
            ? {}
            : { waha_api_key_enc: this.deps.box.encrypt(input.waha.apiKey) }),
          ...(input.sessionTimeoutMinutes === undefined
            ? {}
            : { session_timeout_minutes: input.sessionTimeoutMinutes }),
          ...(input.pipelineId === undefined ? {} : { pipeline_id: input.pipelineId }),
          ...(input.allowGroups === undefined ? {} : { allow_groups: input.allowGroups }),
        })
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return this.toChannel(row);
  }

  async delete(projectId: string, id: string): Promise<void> {
    const current = await this.row(projectId, id);
    const deleted = await this.writing(current, () =>
      this.deps.db
        .updateTable("channels")
        .set({ deleted_at: new Date(), updated_at: new Date(), status: "inactive" })
        .where("project_id", "=", projectId)
        .where("id", "=", id)
        .where("deleted_at", "is", null)
        .executeTakeFirst(),
    );
    if (deleted.numUpdatedRows === 0n) throw notFound("channel");
  }

  /**
   * Checks the WAHA session, starts it when stopped, and pushes our webhook (URL, the
   * events we handle, our HMAC key). A session waiting for a QR scan leaves the channel
   * `activating`; the session.status event moves it on.
   */
  async activate(projectId: string, id: string): Promise<Channel> {
    const row = await this.row(projectId, id);
    const target = this.targetOf(row);
    const { gateway } = this.deps;
    let session = await gateway.getSession(target);
    if (session.status === "STOPPED" || session.status === "FAILED") {
      await gateway.startSession(target);
      session = await gateway.getSession(target);
    }
    await gateway.configureWebhook(target, {
      url: this.inboundUrlOf(row.inbound_id),
      events: WAHA_EVENTS,
      hmacKey: this.deps.box.decrypt(row.inbound_secret_enc),
    });
    const status = channelStatusFromSession(session.status);
    return this.toChannel(
      await this.setStatus(row, status === "disconnected" ? "activating" : status),
    );
  }

  async deactivate(projectId: string, id: string): Promise<Channel> {
    const row = await this.row(projectId, id);
    // Best effort: stop WAHA posting to us; events a deactivated channel still gets are ignored.
    await this.deps.gateway
      .configureWebhook(this.targetOf(row), {
        url: this.inboundUrlOf(row.inbound_id),
        events: [],
        hmacKey: "",
      })
      .catch(() => undefined);
    // Always stamped (even when it was never activated): inbound then ignores its events.
    return this.toChannel(await this.setStatus(row, "inactive", undefined, new Date()));
  }

  async qr(projectId: string, id: string) {
    const row = await this.row(projectId, id);
    const session = await this.deps.gateway.getSession(this.targetOf(row));
    if (session.status !== "SCAN_QR_CODE") {
      throw new AppError(
        "CHANNEL_QR_NOT_AVAILABLE",
        "unprocessable",
        `The session is ${session.status}, not waiting for a QR scan`,
        {
          details: { sessionStatus: session.status },
        },
      );
    }
    return this.deps.gateway.getQr(this.targetOf(row));
  }

  /**
   * Channel status follows the gateway session (session.status events), emitting an event.
   * With `at` (the event's time) it applies only when not older than the last change:
   * concurrent jobs may process WAHA's status events out of order, and a stale one (e.g.
   * the STOPPED of the restart our own webhook push causes) must not win.
   */
  async setStatus(
    row: ChannelRow,
    status: ChannelStatus,
    context?: UnitOfWorkContext,
    at?: Date,
  ): Promise<ChannelRow> {
    if (row.status === status && !at) return row;
    const apply = async (context: UnitOfWorkContext) => {
      const { trx, emit } = context;
      const current = at
        ? await trx
            .selectFrom("channels")
            .selectAll()
            .where("id", "=", row.id)
            .forUpdate()
            .executeTakeFirstOrThrow()
        : row;
      if (at && current.status_changed_at && current.status_changed_at > at) return current;
      const updated = await trx
        .updateTable("channels")
        .set({ status, status_changed_at: at ?? new Date(), updated_at: new Date() })
        .where("id", "=", row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      this.deps.cache.afterCommit(context, ...channelRefs(row));
      if (current.status !== status)
        emit("channel.status_changed", {
          projectId: row.project_id,
          aggregateId: row.id,
          data: { channelId: row.id, from: current.status, to: status },
        });
      return updated;
    };
    return context ? apply(context) : this.deps.uow.run(apply);
  }

  targetOf(row: ChannelRow): GatewayTarget {
    return {
      baseUrl: row.waha_base_url,
      session: row.waha_session,
      apiKey: this.deps.box.decrypt(row.waha_api_key_enc),
    };
  }

  inboundSecretOf(row: ChannelRow): string {
    return this.deps.box.decrypt(row.inbound_secret_enc);
  }

  /**
   * A live channel's row, through the cache. Its provider secrets stay sealed in it (the
   * cache, Redis included, only ever holds ciphertext); they are opened where used.
   */
  async row(projectId: string, id: string): Promise<ChannelRow> {
    const row = await this.deps.cache.read(cacheRef.channel(projectId, id), () =>
      this.deps.db
        .selectFrom("channels")
        .selectAll()
        .where("project_id", "=", projectId)
        .where("id", "=", id)
        .where("deleted_at", "is", null)
        .executeTakeFirst(),
    );
    if (!row) throw notFound("channel");
    return row;
  }

  /** The inbound path's lookup (every webhook), through the cache; unknown ids too. */
  async byInboundId(inboundId: string): Promise<ChannelRow | undefined> {
    return this.deps.cache.read(cacheRef.channelInbound(inboundId), () =>
      this.deps.db
        .selectFrom("channels")
        .selectAll()
        .where("inbound_id", "=", inboundId)
        .where("deleted_at", "is", null)
        .executeTakeFirst(),
    );
  }

  /**
   * Runs one autocommit write to the channel's row with its cache entries held and
   * invalidated (writes inside a unit of work use `afterCommit` instead).
   */
  writing<T>(row: Pick<ChannelRow, "id" | "project_id" | "inbound_id">, write: () => Promise<T>) {
    return this.deps.cache.writing(channelRefs(row), write);
  }

  private async checkPipeline(projectId: string, pipelineId: string): Promise<void> {
    const pipeline = await this.deps.db
      .selectFrom("pipelines")
      .select("id")
      .where("project_id", "=", projectId)
      .where("id", "=", pipelineId)
      .executeTakeFirst();
    if (!pipeline) throw notFound("pipeline");
  }

  private async checkBaseUrl(url: string): Promise<string> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw validationError([{ field: "waha.baseUrl", message: "must be an absolute URL" }]);
    }
    await this.deps.guard.assertAllowed(parsed.toString());
    return parsed.toString().replace(/\/$/, "");
  }

  toChannel(row: ChannelRow): Channel {
    return {
      id: row.id,
      name: row.name,
      type: row.type,
      status: row.status,
      waha: { baseUrl: row.waha_base_url, session: row.waha_session },
      sessionTimeoutMinutes: row.session_timeout_minutes,
      pipelineId: row.pipeline_id,
      allowGroups: row.allow_groups,
      inboundUrl: this.inboundUrlOf(row.inbound_id),
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    };
  }
}

const channelRefs = (row: Pick<ChannelRow, "id" | "project_id" | "inbound_id">): CacheRef[] => [
  cacheRef.channel(row.project_id, row.id),
  cacheRef.channelInbound(row.inbound_id),
];
