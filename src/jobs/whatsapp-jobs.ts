import Type from "typebox";
import { PermanentJobError, defineJob } from "../platform/jobs/job-definition.ts";
import type { JobQueue } from "../platform/jobs/job-queue.ts";
import type { Logger } from "../platform/logger.ts";
import { isIntegrationError } from "../platform/resilience/integration-error.ts";
import type { Conversations } from "../services/conversations.ts";
import type { OutboundMessages } from "../services/outbound-messages.ts";
import type { WhatsAppInbound } from "../services/whatsapp-inbound.ts";

export interface WhatsAppJobDependencies {
  jobs: () => JobQueue;
  logger: Logger;
  inbound: () => WhatsAppInbound;
  outbound: () => OutboundMessages;
  conversations: () => Conversations;
  sendRetryLimit: number;
}

/** The durable jobs behind WhatsApp: processing stored events, sending, ending idle sessions. */
export function whatsappJobs(deps: WhatsAppJobDependencies) {
  const processInbound = defineJob({
    name: "whatsapp-inbound-process",
    schema: Type.Object({ inboundEventId: Type.String() }),
    retryLimit: 8,
    retryDelaySeconds: 1,
    concurrency: 4,
    handler: async ({ inboundEventId }) => {
      await deps.inbound().process(inboundEventId);
    },
  });

  const sendMessage = defineJob({
    name: "whatsapp-message-send",
    schema: Type.Object({ messageId: Type.String() }),
    retryLimit: deps.sendRetryLimit,
    retryDelaySeconds: 1,
    concurrency: 4,
    timeoutSeconds: 120,
    handler: async ({ messageId }) => {
      let outcome;
      try {
        outcome = await deps.outbound().attempt(messageId);
      } catch (error) {
        if (isIntegrationError(error) && error.rejectedBy === "circuit_open") {
          // WAHA is known to be down: wait for the breaker's probe time without using a
          // retry, so messages stay queued however long the outage lasts.
          const until = new Date(Date.now() + (error.retryAfterMs ?? 5_000));
          await deps.jobs().enqueue(sendMessage, { messageId }, { startAfter: until });
          return;
        }
        if (isIntegrationError(error) && error.classification === "permanent") {
          throw new PermanentJobError(error.message, { cause: error });
        }
        if (isIntegrationError(error) && error.classification === "indeterminate") {
          // The send may have gone out: not final (the queue would treat a non-retryable
          // error as permanent); the retry reconciles against the chat before resending.
          throw new Error(error.message, { cause: error });
        }
        throw error;
      }
      if (outcome.kind === "deferred") {
        await deps.jobs().enqueue(sendMessage, { messageId }, { startAfter: outcome.until });
      }
    },
    onFinalFailure: async ({ messageId }, error) => {
      const reason = error instanceof Error ? error.message : "the message could not be sent";
      await deps.outbound().fail(messageId, reason);
    },
  });

  const sessionTimeout = defineJob({
    name: "session-timeout",
    schema: Type.Object({ sessionId: Type.String() }),
    retryLimit: 10,
    retryDelaySeconds: 2,
    concurrency: 2,
    handler: async ({ sessionId }) => {
      await deps.conversations().checkTimeout(sessionId);
    },
  });

  return { processInbound, sendMessage, sessionTimeout };
}
