import { readFileSync } from "node:fs";

/** The package version, for User-Agent headers and /openapi.json. */
export const APP_VERSION: string = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;
