import type { Kysely, Transaction } from "kysely";
import Value from "typebox/value";
import type { DomainEvent } from "../domain/events/domain-event.ts";
import {
  EVENT_CATALOGUE,
  type EventData,
  type EventType,
} from "../domain/events/event-catalogue.ts";
import type { Queryable } from "../platform/db/database.ts";
import type { DB } from "../platform/db/schema.ts";
import { withTransaction } from "../platform/db/transaction.ts";
import { uuidv7 } from "../platform/ids.ts";

export interface UnitOfWorkContext {
  trx: Transaction<DB>;
  /**
   * Runs `fn` after the transaction commits (wake a job worker, invalidate cache entries);
   * never on rollback. `run` resolves after it, so the caller's answer follows it.
   */
  afterCommit(fn: () => void | Promise<void>): void;
  /** Runs `fn` if the transaction rolls back instead (release what was held for it). */
  afterRollback(fn: () => void): void;
  /** Records an event that commits (or not) with this transaction's state changes. */
  emit<T extends EventType>(
    type: T,
    event: { projectId: string; aggregateId: string; data: EventData<T> },
  ): void;
}

/**
 * The transactional outbox from the producer's side: state changes and the events
 * they cause are written in one transaction. After commit the relay is nudged so the
 * events leave at once rather than at the next poll.
 */
export class UnitOfWork {
  /** The callbacks of the units of work that own an open transaction. */
  private readonly owners = new WeakMap<Transaction<DB>, Callbacks>();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly afterCommit: () => void = () => {},
  ) {}

  async run<R>(
    fn: (context: UnitOfWorkContext) => Promise<R>,
    db: Queryable = this.db,
  ): Promise<R> {
    const events: DomainEvent[] = [];
    // A unit of work run inside another's transaction hands its callbacks to that one:
    // they must wait for the real commit, not for the end of the inner function.
    const outer = db.isTransaction ? this.owners.get(db as Transaction<DB>) : undefined;
    const callbacks = outer ?? { committed: [], rolledBack: [] };
    const { committed } = callbacks;
    let result: R;
    try {
      result = await withTransaction(db, async (trx) => {
        if (!outer) this.owners.set(trx, callbacks);
        const value = await fn({
          trx,
          afterCommit: (callback) => committed.push(callback),
          afterRollback: (callback) => callbacks.rolledBack.push(callback),
          emit: (type, { projectId, aggregateId, data }) => {
            const entry = EVENT_CATALOGUE[type];
            // A producer emitting data outside its schema is a bug: fail the transaction.
            if (!Value.Check(entry.schema, data))
              throw new Error(`event ${type} does not match its schema`);
            events.push({
              id: uuidv7(),
              type,
              version: entry.version,
              occurredAt: new Date().toISOString(),
              projectId,
              aggregate: { type: entry.aggregate, id: aggregateId },
              data,
            });
          },
        });
        if (events.length > 0) {
          await trx
            .insertInto("outbox_events")
            .values(
              events.map((e) => ({
                id: e.id,
                project_id: e.projectId,
                type: e.type,
                version: e.version,
                aggregate_type: e.aggregate.type,
                aggregate_id: e.aggregate.id,
                data: JSON.stringify(e.data),
                occurred_at: e.occurredAt,
              })),
            )
            .execute();
        }
        return value;
      });
    } catch (error) {
      // Joined units leave the outcome to the owner of the transaction.
      if (!outer) for (const callback of callbacks.rolledBack) callback();
      throw error;
    }
    if (outer) {
      if (events.length > 0) committed.push(this.afterCommit);
      return result;
    }
    if (events.length > 0) this.afterCommit();
    for (const callback of committed) await callback();
    return result;
  }
}

interface Callbacks {
  committed: (() => void | Promise<void>)[];
  rolledBack: (() => void)[];
}
