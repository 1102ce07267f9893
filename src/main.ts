import { compose } from "./compose.ts";
import { ConfigError, loadConfig, readEnvironment, redactConfig } from "./config.ts";

/** Entry point: config -> compose -> listen -> graceful shutdown on SIGTERM/SIGINT. */
async function main() {
  const config = loadConfig(readEnvironment());
  const app = await compose(config);
  const { logger } = app.deps;
  logger.info({ config: redactConfig(config) }, "starting");
  await app.start();
  await app.server.listen({ port: config.PORT, host: config.HOST });

  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, "shutting down");
    const force = setTimeout(() => {
      logger.error("shutdown took too long; exiting");
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS + 5_000);
    force.unref();
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
