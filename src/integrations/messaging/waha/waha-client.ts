import type { HttpClient, HttpRequest } from "../../../platform/http-client/http-client.ts";
import type { IntegrationPolicy } from "../../../platform/resilience/integration-policy.ts";
import { IntegrationError } from "../../../platform/resilience/integration-error.ts";
import { sendBody } from "./waha-send-body.ts";
import type {
  GatewaySession,
  GatewayTarget,
  OutgoingMessage,
  WhatsAppGateway,
} from "../../../services/whatsapp-gateway.ts";

// Vendor JSON varies by WAHA engine; it is read defensively field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = Record<string, any>;

/** WAHA's message id shapes differ by engine: a string, `{_serialized}`, or `{key: {id}}`. */
export function messageIdOf(body: Any): string | undefined {
  if (typeof body?.id === "string") return body.id;
  if (typeof body?.id?._serialized === "string") return body.id._serialized;
  if (typeof body?.key?.id === "string") return body.key.id;
  return undefined;
}

const SEND_ROUTES: Record<string, string> = {
  text: "sendText",
  image: "sendImage",
  video: "sendVideo",
  audio: "sendFile",
  voice: "sendVoice",
  document: "sendFile",
  location: "sendLocation",
  contact: "sendContactVcard",
};

/**
 * WAHA's REST API (https://waha.devlike.pro) behind our gateway port. Each WAHA server
 * (base URL) has its own resilience policy, so one broken server never opens the
 * breaker for the others. Sends are not idempotent: a timeout is `indeterminate` and the
 * caller reconciles through `findSentMessage` before trying again.
 */
export class WahaClient implements WhatsAppGateway {
  constructor(
    private readonly deps: {
      http: HttpClient;
      policyFor: (baseUrl: string) => IntegrationPolicy;
      historyTimeoutMs: number;
    },
  ) {}

  async getSession(target: GatewayTarget): Promise<GatewaySession> {
    const body = await this.call<Any>(target, "getSession", {
      method: "GET",
      path: `/api/sessions/${enc(target.session)}`,
    });
    return {
      status: String(body.status ?? "STOPPED"),
      me: body.me ? { id: body.me.id ?? null } : null,
    };
  }

  async startSession(target: GatewayTarget): Promise<void> {
    await this.call(target, "startSession", {
      method: "POST",
      path: `/api/sessions/${enc(target.session)}/start`,
      idempotent: true,
    });
  }

  async stopSession(target: GatewayTarget): Promise<void> {
    await this.call(target, "stopSession", {
      method: "POST",
      path: `/api/sessions/${enc(target.session)}/stop`,
      idempotent: true,
    });
  }

  async configureWebhook(
    target: GatewayTarget,
    webhook: { url: string; events: string[]; hmacKey: string },
  ) {
    const webhooks =
      webhook.events.length === 0
        ? []
        : [
            {
              url: webhook.url,
              events: webhook.events,
              hmac: { key: webhook.hmacKey },
              // WAHA retries deliveries itself; we dedupe by event id.
              retries: { policy: "exponential", delaySeconds: 2, attempts: 15 },
            },
          ];
    await this.call(target, "configureWebhook", {
      method: "PUT",
      path: `/api/sessions/${enc(target.session)}`,
      json: { name: target.session, config: { webhooks } },
      idempotent: true,
    });
  }

  async getQr(target: GatewayTarget): Promise<{ mimetype: string; data: string }> {
    const body = await this.call<Any>(target, "getQr", {
      method: "GET",
      path: `/api/${enc(target.session)}/auth/qr?format=image`,
      headers: { accept: "application/json" },
    });
    if (typeof body.data !== "string") throw malformed(target, "getQr");
    return { mimetype: String(body.mimetype ?? "image/png"), data: body.data };
  }

  async send(
    target: GatewayTarget,
    message: OutgoingMessage,
  ): Promise<{ externalId: string; timestamp: Date }> {
    const route = SEND_ROUTES[message.type];
    if (!route) {
      throw new IntegrationError(
        "WAHA_UNSUPPORTED_MESSAGE",
        "integration",
        `WAHA cannot send ${message.type}`,
        {
          provider: "waha",
          classification: "permanent",
        },
      );
    }
    const body = await this.call<Any>(target, route, {
      method: "POST",
      path: `/api/${route}`,
      json: sendBody(target.session, message),
    });
    const externalId = messageIdOf(body);
    // The send was accepted but we cannot tell which message it made: reconcile, never resend.
    if (!externalId) throw malformed(target, route, "indeterminate");
    return {
      externalId,
      timestamp: typeof body.timestamp === "number" ? new Date(body.timestamp * 1000) : new Date(),
    };
  }

  async findSentMessage(
    target: GatewayTarget,
    chatId: string,
    match: { text: string | null; after: Date; exclude?: ReadonlySet<string> },
  ) {
    const messages = await this.call<Any[]>(target, "chatMessages", {
      method: "GET",
      path: `/api/${enc(target.session)}/chats/${enc(chatId)}/messages?limit=50&downloadMedia=false`,
      timeoutMs: this.deps.historyTimeoutMs,
    });
    const after = match.after.getTime() / 1000;
    const found = (Array.isArray(messages) ? messages : []).find(
      (m) =>
        m?.fromMe === true &&
        typeof m.timestamp === "number" &&
        m.timestamp >= after &&
        !match.exclude?.has(messageIdOf(m) ?? "") &&
        (match.text === null || m.body === match.text || m.caption === match.text),
    );
    const externalId = found ? messageIdOf(found) : undefined;
    return found && externalId
      ? { externalId, timestamp: new Date(found.timestamp * 1000) }
      : undefined;
  }

  async sendSeen(target: GatewayTarget, chatId: string): Promise<void> {
    await this.call(target, "sendSeen", {
      method: "POST",
      path: "/api/sendSeen",
      json: { session: target.session, chatId },
      idempotent: true,
    });
  }

  /** Chats and their messages, for history imports. */
  async chats(target: GatewayTarget, limit = 100): Promise<Any[]> {
    return this.call<Any[]>(target, "chats", {
      method: "GET",
      path: `/api/${enc(target.session)}/chats?limit=${limit}`,
      timeoutMs: this.deps.historyTimeoutMs,
    });
  }

  private async call<T>(
    target: GatewayTarget,
    operation: string,
    request: {
      method: HttpRequest["method"];
      path: string;
      json?: unknown;
      headers?: Record<string, string>;
      idempotent?: boolean;
      timeoutMs?: number;
    },
  ): Promise<T> {
    const policy = this.deps.policyFor(target.baseUrl);
    const idempotent = request.idempotent ?? request.method === "GET";
    return policy.execute(
      async (signal) => {
        const response = await this.deps.http.request({
          url: `${target.baseUrl}${request.path}`,
          method: request.method ?? "GET",
          headers: { "x-api-key": target.apiKey, accept: "application/json", ...request.headers },
          ...(request.json === undefined ? {} : { json: request.json }),
          signal,
          operation,
          idempotent,
        });
        return (response.body.length === 0 ? {} : response.json()) as T;
      },
      {
        operation,
        idempotent,
        ...(request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }),
      },
    );
  }
}

const enc = encodeURIComponent;
const malformed = (
  target: GatewayTarget,
  operation: string,
  classification: "permanent" | "indeterminate" = "permanent",
) =>
  new IntegrationError(
    "WAHA_BAD_RESPONSE",
    "integration",
    `WAHA (${new URL(target.baseUrl).host}) answered ${operation} without the expected fields`,
    {
      provider: "waha",
      classification,
      operation,
    },
  );
