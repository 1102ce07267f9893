import { sql, type Kysely, type Selectable } from "kysely";
import { generateWebhookSecret } from "../integrations/webhooks/webhook-signer.ts";
import type { SecretBox } from "../platform/crypto/secret-box.ts";
import type { DB } from "../platform/db/schema.ts";
import type { WebhookEndpointsTable } from "../platform/db/webhook-tables.ts";
import { AppError, notFound } from "../platform/errors.ts";
import { uuidv7 } from "../platform/ids.ts";
import { checkEndpointInput, type WebhookEndpointInput } from "./webhook-endpoint-input.ts";
import { decodeCursor, toPage, type Page } from "./pagination.ts";
import type { UnitOfWork } from "./unit-of-work.ts";
import type { OutboundUrlGuard } from "./whatsapp-gateway.ts";

export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  /** Header names with masked values: values may be credentials and are never returned. */
  headers: Record<string, string>;
  rateLimitPerSecond: number | null;
  status: "enabled" | "disabled";
  disabledReason: string | null;
  disabledAt: string | null;
  failingSince: string | null;
  lastSuccessAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export const MASKED_HEADER_VALUE = "********";

type Row = Selectable<WebhookEndpointsTable>;

/**
 * Integrators' webhook endpoints: the URL passes the SSRF guard on every write (and the
 * HTTP client checks it again at each delivery), signing secrets and custom headers are
 * sealed at rest, a secret is shown once at creation or rotation.
 */
export class WebhookEndpoints {
  constructor(
    private readonly deps: {
      db: Kysely<DB>;
      uow: UnitOfWork;
      box: SecretBox;
      guard: OutboundUrlGuard;
      /** Default life of a rotated-out secret beside the new one. */
      secretGraceMs: number;
      now?: () => number;
    },
  ) {}

  private now(): Date {
    return new Date(this.deps.now?.() ?? Date.now());
  }

  async create(projectId: string, input: WebhookEndpointInput & { url: string }) {
    const eventTypes = input.eventTypes ?? ["*"];
    checkEndpointInput({ ...input, eventTypes });
    await this.deps.guard.assertAllowed(input.url);
    const secret = generateWebhookSecret();
    const now = this.now();
    const id = uuidv7();
    const row = await this.deps.uow.run(async ({ trx }) => {
      const inserted = await trx
        .insertInto("webhook_endpoints")
        .values({
          id,
          project_id: projectId,
          url: input.url,
          description: input.description ?? null,
          event_types: JSON.stringify(eventTypes),
          headers_enc: this.sealHeaders(input.headers),
          rate_limit_per_second: input.rateLimitPerSecond ?? null,
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx
        .insertInto("webhook_endpoint_secrets")
        .values({ id: uuidv7(), endpoint_id: id, secret_enc: this.deps.box.encrypt(secret) })
        .execute();
      return inserted;
    });
    return { ...this.toEndpoint(row), secret };
  }

  async list(projectId: string, limit: number, cursor?: string): Promise<Page<WebhookEndpoint>> {
    let query = this.deps.db
      .selectFrom("webhook_endpoints")
      .selectAll()
      .where("project_id", "=", projectId)
      .orderBy("id", "desc")
      .limit(limit + 1);
    if (cursor) query = query.where("id", "<", decodeCursor(cursor));
    return toPage(await query.execute(), limit, (row) => this.toEndpoint(row));
  }

  async get(projectId: string, id: string): Promise<WebhookEndpoint> {
    return this.toEndpoint(await this.row(projectId, id));
  }

  async update(projectId: string, id: string, input: WebhookEndpointInput) {
    checkEndpointInput(input);
    await this.row(projectId, id);
    if (input.url !== undefined) await this.deps.guard.assertAllowed(input.url);
    const row = await this.deps.db
      .updateTable("webhook_endpoints")
      .set({
        ...(input.url === undefined ? {} : { url: input.url }),
        ...(input.description === undefined ? {} : { description: input.description }),
        ...(input.eventTypes === undefined
          ? {}
          : { event_types: JSON.stringify(input.eventTypes) }),
        ...(input.headers === undefined ? {} : { headers_enc: this.sealHeaders(input.headers) }),
        ...(input.rateLimitPerSecond === undefined
          ? {}
          : { rate_limit_per_second: input.rateLimitPerSecond }),
        updated_at: this.now(),
        config_version: sql`config_version + 1`,
      })
      .where("project_id", "=", projectId)
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound("webhook_endpoint");
    return this.toEndpoint(row);
  }

  async delete(projectId: string, id: string): Promise<void> {
    const deleted = await this.deps.db
      .deleteFrom("webhook_endpoints")
      .where("project_id", "=", projectId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (deleted.numDeletedRows === 0n) throw notFound("webhook_endpoint");
  }

  /** Re-enables a disabled endpoint; its breaker starts closed (failures forgotten). */
  async enable(projectId: string, id: string): Promise<WebhookEndpoint> {
    const row = await this.deps.db
      .updateTable("webhook_endpoints")
      .set({
        status: "enabled",
        disabled_reason: null,
        disabled_at: null,
        failing_since: null,
        updated_at: this.now(),
        config_version: sql`config_version + 1`,
      })
      .where("project_id", "=", projectId)
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound("webhook_endpoint");
    return this.toEndpoint(row);
  }

  /**
   * A new signing secret, shown once. The current ones keep signing until `graceSeconds`
   * from now (default from config), so receivers can switch without dropping deliveries.
   */
  async rotateSecret(projectId: string, id: string, graceSeconds?: number) {
    await this.row(projectId, id);
    const now = this.now();
    const graceMs = graceSeconds === undefined ? this.deps.secretGraceMs : graceSeconds * 1000;
    const expiresAt = new Date(now.getTime() + graceMs);
    const secret = generateWebhookSecret();
    await this.deps.uow.run(async ({ trx }) => {
      // Only secrets that would outlive the new grace are shortened to it.
      await trx
        .updateTable("webhook_endpoint_secrets")
        .set({ expires_at: expiresAt })
        .where("endpoint_id", "=", id)
        .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", expiresAt)]))
        .execute();
      await trx
        .deleteFrom("webhook_endpoint_secrets")
        .where("endpoint_id", "=", id)
        .where("expires_at", "<=", now)
        .execute();
      await trx
        .insertInto("webhook_endpoint_secrets")
        .values({ id: uuidv7(), endpoint_id: id, secret_enc: this.deps.box.encrypt(secret) })
        .execute();
      // Dispatchers cache endpoints by config_version: this makes them sign with the new set.
      await trx
        .updateTable("webhook_endpoints")
        .set({ updated_at: now, config_version: sql`config_version + 1` })
        .where("id", "=", id)
        .execute();
    });
    return { secret, previousSecretsExpireAt: expiresAt.toISOString() };
  }

  private async row(projectId: string, id: string): Promise<Row> {
    const row = await this.deps.db
      .selectFrom("webhook_endpoints")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw notFound("webhook_endpoint");
    return row;
  }

  private sealHeaders(headers: Record<string, string> | undefined): string | null {
    if (!headers || Object.keys(headers).length === 0) return null;
    return this.deps.box.encrypt(JSON.stringify(headers));
  }

  /** The custom headers in clear, for deliveries only. */
  openHeaders(sealed: string | null): Record<string, string> {
    if (!sealed) return {};
    try {
      return JSON.parse(this.deps.box.decrypt(sealed)) as Record<string, string>;
    } catch (error) {
      throw new AppError(
        "WEBHOOK_HEADERS_UNREADABLE",
        "internal",
        "the endpoint's headers cannot be decrypted with the current ENCRYPTION_KEY",
        { cause: error },
      );
    }
  }

  /** A signing secret in clear, for deliveries only. */
  openSecret(sealed: string): string {
    try {
      return this.deps.box.decrypt(sealed);
    } catch (error) {
      throw new AppError(
        "WEBHOOK_SECRET_UNREADABLE",
        "internal",
        "the endpoint's signing secret cannot be decrypted with the current ENCRYPTION_KEY",
        { cause: error },
      );
    }
  }

  toEndpoint(row: Row): WebhookEndpoint {
    const headers = Object.fromEntries(
      Object.keys(this.openHeaders(row.headers_enc)).map((name) => [name, MASKED_HEADER_VALUE]),
    );
    return {
      id: row.id,
      url: row.url,
      description: row.description,
      eventTypes: row.event_types,
      headers,
      rateLimitPerSecond: row.rate_limit_per_second,
      status: row.status,
      disabledReason: row.disabled_reason,
      disabledAt: row.disabled_at?.toISOString() ?? null,
      failingSince: row.failing_since?.toISOString() ?? null,
      lastSuccessAt: row.last_success_at?.toISOString() ?? null,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    };
  }
}
