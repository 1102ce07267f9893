import type { Kysely } from "kysely";
import type { Queryable } from "../platform/db/database.ts";
import type { DB } from "../platform/db/schema.ts";
import { withTransaction } from "../platform/db/transaction.ts";
import { notFound } from "../platform/errors.ts";
import { uuidv7 } from "../platform/ids.ts";
import type { ApiKeys } from "./api-keys.ts";
import type { UnitOfWork } from "./unit-of-work.ts";

export interface ProjectView {
  id: string;
  name: string;
  settings: { defaultSessionTimeoutMinutes: number };
  createdAt: string;
  updatedAt: string;
}

export class Projects {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly apiKeys: ApiKeys,
    private readonly uow: UnitOfWork,
  ) {}

  /** A project and its first admin key, together or not at all. */
  async createWithAdminKey(name: string, db: Queryable = this.db) {
    return withTransaction(db, async (trx) => {
      const now = new Date();
      const row = await trx
        .insertInto("projects")
        .values({ id: uuidv7(), name, created_at: now, updated_at: now })
        .returningAll()
        .executeTakeFirstOrThrow();
      const { key } = await this.apiKeys.create(row.id, { name: "admin", role: "admin" }, trx);
      return { project: toView(row), apiKey: key };
    });
  }

  /**
   * First start on an empty database: make a project and an admin key. Runs under the
   * migration lock so two instances starting together create exactly one.
   */
  async bootstrap(db: Queryable, name: string): Promise<string | undefined> {
    const existing = await db.selectFrom("projects").select("id").limit(1).executeTakeFirst();
    if (existing) return undefined;
    return (await this.createWithAdminKey(name, db)).apiKey;
  }

  async get(id: string): Promise<ProjectView> {
    const row = await this.db
      .selectFrom("projects")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw notFound("project");
    return toView(row);
  }

  async update(
    id: string,
    patch: { name?: string; settings?: { defaultSessionTimeoutMinutes?: number } },
  ): Promise<ProjectView> {
    const minutes = patch.settings?.defaultSessionTimeoutMinutes;
    return this.uow.run(async ({ trx, emit }) => {
      const row = await trx
        .updateTable("projects")
        .set({
          updated_at: new Date(),
          ...(patch.name === undefined ? {} : { name: patch.name }),
          ...(minutes === undefined ? {} : { default_session_timeout_minutes: minutes }),
        })
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw notFound("project");
      const view = toView(row);
      const changes = [
        ...(patch.name === undefined ? [] : ["name"]),
        ...(minutes === undefined ? [] : ["settings"]),
      ];
      emit("project.updated", {
        projectId: id,
        aggregateId: id,
        data: { name: view.name, settings: view.settings, changes },
      });
      return view;
    });
  }
}

const toView = (row: {
  id: string;
  name: string;
  default_session_timeout_minutes: number;
  created_at: Date;
  updated_at: Date;
}): ProjectView => ({
  id: row.id,
  name: row.name,
  settings: { defaultSessionTimeoutMinutes: row.default_session_timeout_minutes },
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});
