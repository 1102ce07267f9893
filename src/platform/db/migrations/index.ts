import type { Migration } from "../migrate.ts";
import { foundation } from "./0001-foundation.ts";
import { events } from "./0002-events.ts";
import { whatsapp } from "./0003-whatsapp.ts";
import { pipelines } from "./0004-pipelines.ts";
import { webhooks } from "./0005-webhooks.ts";

/** Every migration in order. Append only: an applied migration is never edited. */
export const migrations: Migration[] = [foundation, events, whatsapp, pipelines, webhooks];
