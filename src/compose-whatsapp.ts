import { join, resolve } from "node:path";
import type { Kysely } from "kysely";
import type { Config } from "./config.ts";
import { whatsappJobs } from "./jobs/whatsapp-jobs.ts";
import { WahaClient } from "./integrations/messaging/waha/waha-client.ts";
import { SecretBox, loadEncryptionKey } from "./platform/crypto/secret-box.ts";
import type { DB } from "./platform/db/schema.ts";
import { HttpClient, httpClientSettingsFromConfig } from "./platform/http-client/http-client.ts";
import type { JobDefinition } from "./platform/jobs/job-definition.ts";
import type { JobQueue } from "./platform/jobs/job-queue.ts";
import type { Logger } from "./platform/logger.ts";
import type { Metrics } from "./platform/metrics/metrics.ts";
import {
  createIntegrationPolicy,
  type IntegrationPolicy,
} from "./platform/resilience/integration-policy.ts";
import type { IntegrationRegistry } from "./platform/resilience/integration-registry.ts";
import { policySettingsFromConfig } from "./platform/resilience/policy-settings.ts";
import { Channels } from "./services/channels.ts";
import { Conversations } from "./services/conversations.ts";
import type { EntityCache } from "./services/entity-cache.ts";
import { MediaDownloads } from "./services/media-downloads.ts";
import { Messages } from "./services/messages.ts";
import { OutboundMessages } from "./services/outbound-messages.ts";
import { outboundUrlGuard } from "./services/outbound-url-guard.ts";
import type { UnitOfWork } from "./services/unit-of-work.ts";
import { WhatsAppInbound } from "./services/whatsapp-inbound.ts";

/** Part of the composition root: WhatsApp through WAHA and the jobs behind it. */
export function composeWhatsApp({
  config,
  db,
  uow,
  logger,
  metrics,
  integrations,
  jobs,
  cache,
}: {
  config: Config;
  db: Kysely<DB>;
  uow: UnitOfWork;
  logger: Logger;
  metrics: Metrics;
  integrations: IntegrationRegistry;
  jobs: JobQueue;
  /** Read-through for channel rows and active sessions; contacts on the inbound path. */
  cache: EntityCache;
}) {
  // WhatsApp through WAHA: sealed credentials, one resilience policy per WAHA server.
  const box = new SecretBox(
    loadEncryptionKey(config.ENCRYPTION_KEY, join(resolve(config.DATA_DIR), "encryption.key")).key,
  );
  const wahaHttp = new HttpClient({ provider: "waha", ...httpClientSettingsFromConfig(config) });
  const wahaPolicies = new Map<string, IntegrationPolicy>();
  const wahaPolicyFor = (baseUrl: string) => {
    const origin = new URL(baseUrl).host;
    let policy = wahaPolicies.get(origin);
    if (!policy) {
      policy = createIntegrationPolicy(
        { integration: `waha:${origin}`, ...policySettingsFromConfig(config, "WAHA") },
        {
          logger,
          metrics,
          registry: integrations,
          declared: {
            authentication: true,
            signature: true,
            inputValidation: true,
            tests: { unit: true, integration: true, e2e: true },
          },
        },
      );
      wahaPolicies.set(origin, policy);
    }
    return policy;
  };
  const gateway = new WahaClient({
    http: wahaHttp,
    policyFor: wahaPolicyFor,
    historyTimeoutMs: config.WAHA_HISTORY_TIMEOUT_MS,
  });
  const channels = new Channels({
    db,
    uow,
    box,
    gateway,
    guard: outboundUrlGuard(wahaHttp.guard),
    publicBaseUrl: config.PUBLIC_BASE_URL,
    cache,
  });
  const messages = new Messages(db);
  const media = new MediaDownloads({
    db,
    channels,
    wahaHttp,
    wahaPolicyFor,
    mediaHttp: new HttpClient({ provider: "media", ...httpClientSettingsFromConfig(config) }),
    mediaPolicy: createIntegrationPolicy(
      { integration: "media", ...policySettingsFromConfig(config, "MEDIA") },
      {
        logger,
        metrics,
        registry: integrations,
        declared: { inputValidation: true, tests: { unit: true, integration: true, e2e: true } },
      },
    ),
  });
  const conversations = new Conversations(
    db,
    uow,
    async ({ trx }, sessionId, at) => {
      await jobs.enqueue(whatsapp.sessionTimeout, { sessionId }, { db: trx, startAfter: at });
    },
    cache,
  );
  const inbound = new WhatsAppInbound({
    db,
    uow,
    channels,
    conversations,
    enqueue: async (context, inboundEventId) => {
      await jobs.enqueue(whatsapp.processInbound, { inboundEventId }, { db: context.trx });
      context.afterCommit(() => jobs.wake(whatsapp.processInbound.name));
    },
    cache,
  });
  const outbound = new OutboundMessages({
    db,
    uow,
    channels,
    conversations,
    gateway,
    mediaGuard: outboundUrlGuard(wahaHttp.guard),
    pacing: {
      minGapMs: config.WAHA_MIN_SEND_GAP_MS,
      perContactPerHour: config.WAHA_CONTACT_HOURLY_LIMIT,
    },
    enqueue: async (trx, messageId, startAfter) => {
      await jobs.enqueue(
        whatsapp.sendMessage,
        { messageId },
        { db: trx, ...(startAfter ? { startAfter } : {}) },
      );
    },
  });
  const whatsapp = whatsappJobs({
    jobs: () => jobs,
    logger,
    inbound: () => inbound,
    outbound: () => outbound,
    conversations: () => conversations,
    sendRetryLimit: config.WAHA_SEND_RETRY_LIMIT,
  });

  return {
    box,
    channels,
    conversations,
    messages,
    media,
    inbound,
    outbound,
    gateway,
    jobDefinitions: [
      whatsapp.processInbound,
      whatsapp.sendMessage,
      whatsapp.sessionTimeout,
    ] as JobDefinition[],
  };
}
