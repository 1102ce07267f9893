import { Agent, request, type Dispatcher } from "undici";
import type { Config } from "../../config.ts";
import { httpResponseError } from "../resilience/classify-http-response.ts";
import { classifyNetworkError } from "../resilience/classify-network-error.ts";
import { IntegrationError } from "../resilience/integration-error.ts";
import { guardedConnector } from "./guarded-connector.ts";
import { SsrfGuard, type SsrfGuardOptions } from "./ssrf-guard.ts";

export interface HttpClientOptions {
  /** Named in errors, e.g. "waha". */
  provider: string;
  connectTimeoutMs?: number;
  /** From the request written to the response headers. */
  headersTimeoutMs?: number;
  /** Longest pause between two chunks of the response body. */
  bodyTimeoutMs?: number;
  maxResponseBytes?: number;
  /** A 3xx is never followed: returned as a response, or thrown (default). */
  redirects?: "return" | "error";
  /** SSRF guard settings (allow-list, https-only, resolver for tests). */
  guard?: Omit<SsrfGuardOptions, "provider">;
}

export interface HttpRequest {
  url: string | URL;
  method?: Dispatcher.HttpMethod;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Sent as application/json. */
  json?: unknown;
  signal?: AbortSignal;
  operation?: string;
  /** Repeating it is harmless; default for GET, HEAD and OPTIONS. */
  idempotent?: boolean;
  maxResponseBytes?: number;
  /** Past maxResponseBytes: fail (default), or keep the first bytes and drop the rest. */
  overflow?: "error" | "truncate";
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** Statuses answered as a response instead of thrown; default 2xx (and 3xx if returned). */
  acceptStatus?: (status: number) => boolean;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body was cut at maxResponseBytes (overflow: "truncate"). */
  truncated: boolean;
  text(): string;
  json<T = unknown>(): T;
}

export const HTTP_CLIENT_DEFAULTS = {
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 30_000,
  maxResponseBytes: 25 * 1024 * 1024,
};

/** The OUTBOUND_* settings as client options (add `provider`). */
export const httpClientSettingsFromConfig = (config: Config) => ({
  connectTimeoutMs: config.OUTBOUND_CONNECT_TIMEOUT_MS,
  headersTimeoutMs: config.OUTBOUND_HEADERS_TIMEOUT_MS,
  bodyTimeoutMs: config.OUTBOUND_BODY_TIMEOUT_MS,
  maxResponseBytes: config.OUTBOUND_MAX_RESPONSE_BYTES,
  guard: {
    allowCidrs: config.OUTBOUND_ALLOW_CIDRS,
    httpsOnly: config.OUTBOUND_HTTPS_ONLY === "true",
  },
});

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Outbound HTTP on undici for vendor adapters, webhooks and media downloads. Every
 * connection goes through the SSRF guard and to the address it checked; a non-accepted
 * status or a network failure is thrown as a classified IntegrationError, so it fits
 * `policy.execute((signal) => client.request({ ..., signal }), { operation })`.
 */
export class HttpClient {
  readonly guard: SsrfGuard;
  private readonly agent: Agent;
  private readonly options: Required<Omit<HttpClientOptions, "guard">>;

  constructor(options: HttpClientOptions) {
    this.options = { ...HTTP_CLIENT_DEFAULTS, redirects: "error", ...options };
    this.guard = new SsrfGuard({ ...options.guard, provider: options.provider });
    this.agent = new Agent({
      connect: guardedConnector(this.guard, { connectTimeoutMs: this.options.connectTimeoutMs }),
      headersTimeout: this.options.headersTimeoutMs,
      bodyTimeout: this.options.bodyTimeoutMs,
    });
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const { provider } = this.options;
    const url = this.guard.checkUrl(req.url);
    const method =
      req.method ?? (req.json === undefined && req.body === undefined ? "GET" : "POST");
    const context = {
      ...(req.operation === undefined ? {} : { operation: req.operation }),
      idempotent: req.idempotent ?? IDEMPOTENT.has(method),
    };
    const headers = { ...req.headers };
    let body = req.body;
    if (req.json !== undefined) {
      body = JSON.stringify(req.json);
      headers["content-type"] ??= "application/json";
    }
    const limit = req.maxResponseBytes ?? this.options.maxResponseBytes;
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        dispatcher: this.agent,
        method,
        headers,
        body: body ?? null,
        signal: req.signal ?? null,
        headersTimeout: req.headersTimeoutMs ?? this.options.headersTimeoutMs,
        bodyTimeout: req.bodyTimeoutMs ?? this.options.bodyTimeoutMs,
      });
    } catch (error) {
      throw classifyNetworkError(error, provider, context);
    }
    const { statusCode: status, headers: responseHeaders } = response;
    const redirect = status >= 300 && status < 400;
    if (redirect && this.options.redirects === "error") {
      discard(response.body);
      throw new IntegrationError(
        "OUTBOUND_REDIRECT_NOT_FOLLOWED",
        "integration",
        `${provider} answered HTTP ${status} (redirects are not followed)`,
        {
          provider,
          classification: "permanent",
          status,
          details: { status, location: responseHeaders["location"] ?? null },
        },
      );
    }
    const accepted = req.acceptStatus ?? ((s: number) => (s >= 200 && s < 300) || redirect);
    if (!accepted(status)) {
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      throw httpResponseError(provider, { status, headers: responseHeaders }, context);
    }
    const truncate = req.overflow === "truncate";
    const { bytes, truncated } = await readLimited(
      response.body,
      limit,
      responseHeaders,
      provider,
      context,
      truncate,
    );
    return {
      status,
      headers: responseHeaders,
      body: bytes,
      truncated,
      text: () => bytes.toString("utf8"),
      json: <T>() => JSON.parse(bytes.toString("utf8")) as T,
    };
  }

  /** Closes pooled connections; pending requests finish first. */
  close(): Promise<void> {
    return this.agent.close();
  }
}

/** Drops a body we will not read; undici reports that as an error nobody must see. */
const discard = (body: Dispatcher.ResponseData["body"]) => {
  body.on("error", () => undefined);
  body.destroy();
};

async function readLimited(
  body: Dispatcher.ResponseData["body"],
  limit: number,
  headers: HttpResponse["headers"],
  provider: string,
  context: { operation?: string; idempotent: boolean },
  truncate = false,
): Promise<{ bytes: Buffer; truncated: boolean }> {
  const tooLarge = () =>
    new IntegrationError(
      "OUTBOUND_RESPONSE_TOO_LARGE",
      "integration",
      `${provider} answered more than ${limit} bytes`,
      { provider, classification: "permanent", details: { limit } },
    );
  const declared = Number(headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit && !truncate) {
    discard(body);
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      // Leaving the loop destroys the stream: the rest is never downloaded.
      if (size + chunk.length > limit) {
        if (!truncate) throw tooLarge();
        chunks.push(chunk.subarray(0, limit - size));
        return { bytes: Buffer.concat(chunks, limit), truncated: true };
      }
      size += chunk.length;
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof IntegrationError) throw error;
    throw classifyNetworkError(error, provider, context);
  }
  return { bytes: Buffer.concat(chunks, size), truncated: false };
}
