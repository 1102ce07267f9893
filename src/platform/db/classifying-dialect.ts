import type {
  DatabaseConnection,
  Dialect,
  Driver,
  QueryResult,
  CompiledQuery,
  TransactionSettings,
} from "kysely";
import { classifyDatabaseError } from "./database-errors.ts";

const rethrow = (error: unknown): never => {
  throw classifyDatabaseError(error);
};

/** Wraps any Kysely dialect so that driver errors are classified as they enter. */
export function classifyingDialect(inner: Dialect): Dialect {
  return {
    createAdapter: () => inner.createAdapter(),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createIntrospector: (db) => inner.createIntrospector(db),
    createDriver: () => new ClassifyingDriver(inner.createDriver()),
  };
}

class ClassifyingDriver implements Driver {
  constructor(private readonly inner: Driver) {}
  init = () => this.inner.init().catch(rethrow);
  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.inner.acquireConnection().catch(rethrow);
    return new ClassifyingConnection(connection);
  }
  beginTransaction = (c: DatabaseConnection, s: TransactionSettings) =>
    this.inner.beginTransaction(unwrap(c), s).catch(rethrow);
  commitTransaction = (c: DatabaseConnection) =>
    this.inner.commitTransaction(unwrap(c)).catch(rethrow);
  rollbackTransaction = (c: DatabaseConnection) =>
    this.inner.rollbackTransaction(unwrap(c)).catch(rethrow);
  releaseConnection = (c: DatabaseConnection) => this.inner.releaseConnection(unwrap(c));
  destroy = () => this.inner.destroy();
}

class ClassifyingConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}
  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.inner.executeQuery<R>(query).catch(rethrow);
  }
  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

const unwrap = (c: DatabaseConnection): DatabaseConnection =>
  c instanceof ClassifyingConnection ? c.inner : c;
