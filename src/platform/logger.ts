import pino, { type Logger } from "pino";

export type { Logger };

/** Paths pino blanks out wherever they appear in a log line. */
const REDACT = [
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-api-key"]',
  'req.headers["idempotency-key"]',
  "*.apiKey",
  "*.secret",
  "*.password",
  "*.token",
  "*.inboundSecret",
  "config.DATABASE_URL",
  "config.AMQP_URL",
  "config.ADMIN_TOKEN",
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: "[redacted]" } }, destination);
}
