import type { FastifyInstance } from "fastify";
import { AppError } from "../../platform/errors.ts";
import type { Metrics } from "../../platform/metrics/metrics.ts";
import { errorBody } from "../error-handler.ts";
import { publicRoute } from "../request-context.ts";

/** A dependency readiness probe; `code` is what a failure answers with. */
export interface ReadinessCheck {
  name: string;
  code: string;
  check(): Promise<void>;
  /**
   * false: a dependency the service answers correctly without (Redis: memory tier and
   * database). Its failure is reported (`status: "degraded"`) but readiness stays 200.
   */
  critical?: boolean;
  /** Extra fields for the report, read after the probe either way (e.g. breaker state). */
  details?(): Record<string, unknown>;
}

const CHECK_TIMEOUT_MS = 2_000;

async function probe(check: ReadinessCheck) {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check.check(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return {
      status: "ok" as const,
      latencyMs: round(performance.now() - started),
      ...check.details?.(),
    };
  } catch (error) {
    const message = error instanceof AppError ? error.message : (error as Error).message;
    return {
      status: "unavailable" as const,
      latencyMs: round(performance.now() - started),
      error: message,
      ...(check.critical === false ? { critical: false } : {}),
      ...check.details?.(),
    };
  } finally {
    clearTimeout(timer);
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export function operationsRoutes(app: FastifyInstance, metrics: Metrics, checks: ReadinessCheck[]) {
  app.get("/health/live", {
    config: publicRoute,
    schema: { tags: ["operations"], summary: "The process is up" },
    handler: async () => ({ status: "ok" }),
  });

  app.get("/health/ready", {
    config: publicRoute,
    schema: {
      tags: ["operations"],
      summary:
        "Every dependency answers; 503 names the first that does not (a non-critical one, such as Redis, only makes it degraded)",
    },
    handler: async (request, reply) => {
      const results = await Promise.all(checks.map(async (c) => [c, await probe(c)] as const));
      const report = Object.fromEntries(results.map(([c, r]) => [c.name, r]));
      const failed = results.find(([c, r]) => r.status !== "ok" && c.critical !== false);
      const degraded = results.some(([, r]) => r.status !== "ok");
      if (!failed) return { status: degraded ? "degraded" : "ok", checks: report };
      const error = new AppError(
        failed[0].code,
        "unavailable",
        `${failed[0].name} is unavailable`,
        {
          details: { checks: report },
        },
      );
      return reply
        .code(503)
        .header("retry-after", "1")
        .send({ status: "unavailable", checks: report, ...errorBody(error, request.id) });
    },
  });

  app.get("/metrics", {
    config: publicRoute,
    schema: { tags: ["operations"], summary: "Prometheus metrics" },
    handler: async (_request, reply) =>
      reply
        .header("content-type", metrics.registry.contentType)
        .send(await metrics.registry.metrics()),
  });
}
