import { buildConnector } from "undici";
import type { SsrfGuard } from "./ssrf-guard.ts";

/**
 * An undici connector that asks the guard for the address (one lookup, every answer
 * checked) and opens the socket to exactly that address. The origin's host name still
 * names the server: undici sends it as Host and, for https, as SNI and the name the
 * certificate is checked against.
 */
export function guardedConnector(
  guard: SsrfGuard,
  options: { connectTimeoutMs: number },
): buildConnector.connector {
  const connect = buildConnector({ timeout: options.connectTimeoutMs });
  return (params, callback) => {
    guard.resolve(params.hostname).then(
      (address) => {
        connect({ ...params, hostname: address }, callback);
      },
      (error: Error) => callback(error, null),
    );
  };
}
