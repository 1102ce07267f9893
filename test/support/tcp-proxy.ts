import { createServer, connect, type Server, type Socket } from "node:net";

export interface TcpProxy {
  /** The loopback port clients connect to. */
  port: number;
  /** Rewrites a URL so that it goes through the proxy (same credentials and path). */
  urlVia(url: string): string;
  /** Destroys every live connection and every new one until restore(). */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy for outage tests: the app talks to a real server through it, and
 * `cut()` makes the server vanish (live sockets die, new ones are dropped on accept)
 * without touching the server itself.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cutOff = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    // A peer that vanishes mid-stream is the point of these tests, not a failure.
    socket.on("error", () => undefined);
  };

  const server: Server = createServer((downstream) => {
    track(downstream);
    if (cutOff) {
      downstream.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    track(upstream);
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    downstream.on("close", () => upstream.destroy());
    upstream.on("close", () => downstream.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy has no port");
  const port = address.port;

  return {
    port,
    urlVia(url) {
      const parsed = new URL(url);
      parsed.hostname = "127.0.0.1";
      parsed.port = String(port);
      return parsed.toString();
    },
    cut() {
      cutOff = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      cutOff = false;
    },
    async close() {
      cutOff = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
