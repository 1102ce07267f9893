import type { MessageLocation, MessageMedia, MessageType } from "../domain/whatsapp-events.ts";

/** Where a channel's gateway lives and how to authenticate (decrypted only in memory). */
export interface GatewayTarget {
  baseUrl: string;
  apiKey: string;
  session: string;
}

export interface OutgoingMessage {
  chatId: string;
  type: MessageType;
  text: string | null;
  media: MessageMedia | null;
  location: MessageLocation | null;
  vcard: string | null;
  replyToExternalId: string | null;
}

export interface GatewaySession {
  status: string;
  me: { id: string | null } | null;
}

/**
 * The WhatsApp gateway port (WAHA implements it). Every call goes through the
 * integration's resilience policy; errors are IntegrationErrors classified as
 * retryable, permanent or indeterminate (the request may have been applied).
 */
export interface WhatsAppGateway {
  getSession(target: GatewayTarget): Promise<GatewaySession>;
  startSession(target: GatewayTarget): Promise<void>;
  stopSession(target: GatewayTarget): Promise<void>;
  configureWebhook(
    target: GatewayTarget,
    webhook: { url: string; events: string[]; hmacKey: string },
  ): Promise<void>;
  getQr(target: GatewayTarget): Promise<{ mimetype: string; data: string }>;
  send(
    target: GatewayTarget,
    message: OutgoingMessage,
  ): Promise<{ externalId: string; timestamp: Date }>;
  /** Looks for a message we sent (for reconciling an indeterminate send), not one of `exclude`. */
  findSentMessage(
    target: GatewayTarget,
    chatId: string,
    match: { text: string | null; after: Date; exclude?: ReadonlySet<string> },
  ): Promise<{ externalId: string; timestamp: Date } | undefined>;
  sendSeen(target: GatewayTarget, chatId: string): Promise<void>;
}

/** Checks an outbound URL against the SSRF rules (public addresses or the allow-list). */
export interface OutboundUrlGuard {
  assertAllowed(url: string): Promise<void>;
}
