import type { Kysely, Selectable } from "kysely";
import { isUniqueViolation } from "../platform/db/database-errors.ts";
import type { Queryable } from "../platform/db/database.ts";
import type {
  DB,
  PipelineStatusesTable,
  PipelineStatusType,
  PipelinesTable,
} from "../platform/db/schema.ts";
import { AppError, notFound } from "../platform/errors.ts";
import { uuidv7 } from "../platform/ids.ts";
import { cacheRef, type EntityCache } from "./entity-cache.ts";
import { decodeCursor, toPage, type Page } from "./pagination.ts";
import type { UnitOfWork } from "./unit-of-work.ts";

export interface PipelineStatus {
  id: string;
  name: string;
  type: PipelineStatusType;
  color: string | null;
  position: number;
}

export interface Pipeline {
  id: string;
  name: string;
  sessionTimeoutMinutes: number | null;
  statuses: PipelineStatus[];
  createdAt: string;
  updatedAt: string;
}

export interface PipelineInput {
  name?: string;
  sessionTimeoutMinutes?: number | null;
}

export interface PipelineStatusInput {
  name: string;
  type: PipelineStatusType;
  color?: string | null;
  /** 0-based; omitted (or past the end) appends. Later statuses move down one. */
  position?: number;
}

type PipelineRow = Selectable<PipelinesTable>;
type StatusRow = Selectable<PipelineStatusesTable>;

/** Sales pipelines: ordered statuses, and the session timeout of the channels using them. */
export class Pipelines {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly uow: UnitOfWork,
    private readonly cache: EntityCache,
  ) {}

  async create(projectId: string, input: PipelineInput & { name: string }): Promise<Pipeline> {
    const now = new Date();
    const row = await this.db
      .insertInto("pipelines")
      .values({
        id: uuidv7(),
        project_id: projectId,
        name: input.name.trim(),
        session_timeout_minutes: input.sessionTimeoutMinutes ?? null,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toPipeline(row, []);
  }

  /** A pipeline with its statuses, through the cache (every write to either drops it). */
  async get(projectId: string, id: string): Promise<Pipeline> {
    const pipeline = await this.cache.read(cacheRef.pipeline(projectId, id), async () => {
      const row = await this.find(projectId, id);
      return row && toPipeline(row, await this.statusesOf([row.id]));
    });
    if (!pipeline) throw notFound("pipeline");
    return pipeline;
  }

  async list(projectId: string, limit: number, cursor?: string): Promise<Page<Pipeline>> {
    let query = this.db.selectFrom("pipelines").selectAll().where("project_id", "=", projectId);
    if (cursor) query = query.where("id", "<", decodeCursor(cursor));
    const rows = await query
      .orderBy("id", "desc")
      .limit(limit + 1)
      .execute();
    const statuses = await this.statusesOf(rows.slice(0, limit).map((r) => r.id));
    return toPage(rows, limit, (r) =>
      toPipeline(
        r,
        statuses.filter((s) => s.pipeline_id === r.id),
      ),
    );
  }

  async update(projectId: string, id: string, input: PipelineInput): Promise<Pipeline> {
    await this.row(projectId, id);
    const ref = cacheRef.pipeline(projectId, id);
    const row = await this.cache.writing([ref], () =>
      this.db
        .updateTable("pipelines")
        .set({
          updated_at: new Date(),
          ...(input.name === undefined ? {} : { name: input.name.trim() }),
          ...(input.sessionTimeoutMinutes === undefined
            ? {}
            : { session_timeout_minutes: input.sessionTimeoutMinutes }),
        })
        .where("project_id", "=", projectId)
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return toPipeline(row, await this.statusesOf([row.id]));
  }

  /** Adds a status at `position` (default: the end); answers the whole pipeline. */
  async addStatus(projectId: string, id: string, input: PipelineStatusInput): Promise<Pipeline> {
    return this.uow.run(async (context) => {
      const { trx } = context;
      // Locking the pipeline serialises concurrent additions, so positions stay dense.
      const pipeline = await this.row(projectId, id, trx, true);
      this.cache.afterCommit(context, cacheRef.pipeline(projectId, pipeline.id));
      const current = await this.statusesOf([pipeline.id], trx);
      const position = Math.min(input.position ?? current.length, current.length);
      if (position < current.length) {
        await trx
          .updateTable("pipeline_statuses")
          .set((eb) => ({ position: eb("position", "+", 1) }))
          .where("pipeline_id", "=", pipeline.id)
          .where("position", ">=", position)
          .execute();
      }
      try {
        await trx
          .insertInto("pipeline_statuses")
          .values({
            id: uuidv7(),
            project_id: projectId,
            pipeline_id: pipeline.id,
            name: input.name.trim(),
            type: input.type,
            color: input.color ?? null,
            position,
            created_at: new Date(),
          })
          .execute();
      } catch (error) {
        if (isUniqueViolation(error, "pipeline_statuses_name_key")) {
          throw new AppError(
            "PIPELINE_STATUS_TAKEN",
            "conflict",
            "The pipeline already has a status with this name",
          );
        }
        throw error;
      }
      const row = await trx
        .updateTable("pipelines")
        .set({ updated_at: new Date() })
        .where("id", "=", pipeline.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return toPipeline(row, await this.statusesOf([row.id], trx));
    });
  }

  /** Throws 404 PIPELINE_NOT_FOUND unless the pipeline belongs to the project. */
  async assertExists(projectId: string, id: string, db: Queryable = this.db): Promise<void> {
    if (db === this.db) await this.get(projectId, id);
    else await this.row(projectId, id, db);
  }

  private async find(projectId: string, id: string): Promise<PipelineRow | undefined> {
    return this.db
      .selectFrom("pipelines")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("id", "=", id)
      .executeTakeFirst();
  }

  private async row(
    projectId: string,
    id: string,
    db: Queryable = this.db,
    lock = false,
  ): Promise<PipelineRow> {
    let query = db
      .selectFrom("pipelines")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("id", "=", id);
    if (lock) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row) throw notFound("pipeline");
    return row;
  }

  private async statusesOf(ids: string[], db: Queryable = this.db): Promise<StatusRow[]> {
    if (ids.length === 0) return [];
    return db
      .selectFrom("pipeline_statuses")
      .selectAll()
      .where("pipeline_id", "in", ids)
      .orderBy("position")
      .orderBy("id")
      .execute();
  }
}

const toPipeline = (row: PipelineRow, statuses: StatusRow[]): Pipeline => ({
  id: row.id,
  name: row.name,
  sessionTimeoutMinutes: row.session_timeout_minutes,
  statuses: statuses.map((s) => ({
    id: s.id,
    name: s.name,
    type: s.type,
    color: s.color,
    position: s.position,
  })),
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});
