import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PGlite, Results } from '@electric-sql/pglite';
import type {
  PgliteInitData,
  PgliteWorkerData,
  SerializedError,
  SqlStatement,
  WorkerRequest,
  WorkerResponse,
} from './pglite-worker';

/**
 * PostgreSQL settings for the embedded instance. PGlite's own default gives
 * `shared_buffers` 160 MB, which a process touches and keeps; Keyward's tables are small
 * (users, sessions, keys, a row per user, day and model), so 4 MB holds the hot pages.
 * Measured in docs/database.md ("Memory and start time").
 */
export const EMBEDDED_POSTGRESQL_CONF = [
  'shared_buffers = 4MB',
  // PGlite runs one backend; PostgreSQL's default of 100 sizes the shared lock table and
  // per-backend arrays for 100 (~4.5 MiB of idle RSS, docs/database.md).
  'max_connections = 10',
] as const;

const WORKER_YOUNG_GENERATION_MB = 4;

/** A driver error rebuilt on this side, with the same `code`/`detail` fields as PGlite's. */
class EmbeddedDatabaseError extends Error {
  constructor(serialized: SerializedError) {
    super(serialized.message);
    this.name = serialized.name;
    Object.assign(this, serialized.fields);
  }
}

/** The worker went away: queries fail as a PostgreSQL "admin shutdown" would (503). */
class WorkerGoneError extends Error {
  readonly code = '57P01';
  constructor(reason: string) {
    super(`embedded database worker stopped: ${reason}`);
  }
}

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };
type Request = WorkerRequest extends infer R
  ? R extends { id: number }
    ? Omit<R, 'id'>
    : never
  : never;
type QueryOptions = { rowMode?: 'array' | 'object'; parsers?: Record<number, unknown> };

/**
 * The worker file: next to this one once built; under the test runner (which runs `src/`),
 * the build's copy (the e2e setup compiles `dist/`), else the source, which Node runs by
 * stripping its types.
 */
function workerFile(): string {
  for (const candidate of [
    join(__dirname, 'pglite-worker.js'),
    join(__dirname, '..', '..', 'dist', 'src', 'database', 'pglite-worker.js'),
  ]) {
    if (existsSync(candidate)) return candidate;
  }
  return join(__dirname, 'pglite-worker.ts');
}

/**
 * The main thread's side of the embedded database: owns the Worker that runs PGlite and
 * offers the part of PGlite's interface Drizzle's `pglite` driver calls (`query`, `exec`,
 * `transaction`), so the schema, queries and migrations are the ones PostgreSQL runs.
 */
export class PgliteWorkerClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private gone?: Error;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: WorkerResponse) => {
      const entry = this.pending.get(message.id);
      if (!entry) return;
      this.pending.delete(message.id);
      if ('error' in message) entry.reject(new EmbeddedDatabaseError(message.error));
      else entry.resolve(message.result);
    });
    const fail = (reason: string) => {
      this.gone ??= new WorkerGoneError(reason);
      for (const entry of this.pending.values()) entry.reject(this.gone);
      this.pending.clear();
    };
    worker.on('error', (error: Error) => fail(error.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
  }

  /**
   * Starts the worker; resolves once the database is open (the caller runs the migrations
   * through this client). A new directory is created (initdb) and migrated by a child
   * process that then exits: initdb's memory
   * (hundreds of MB of WASM heap, and the allocator's arena, which a thread that exits leaves
   * in this process) goes with it, and the worker opens the result, so a first start idles
   * like a restart.
   */
  static async open(dir: string, migrationsFolder: string): Promise<PgliteWorkerClient> {
    const data: PgliteWorkerData = { dir, postgresqlconf: [...EMBEDDED_POSTGRESQL_CONF] };
    if (!existsSync(join(dir, 'PG_VERSION'))) {
      await PgliteWorkerClient.initialise({ ...data, migrationsFolder });
    }
    return PgliteWorkerClient.start(data);
  }

  /** initdb and migrations in a child process (see `open`); rejects with its error. */
  private static initialise(data: PgliteInitData): Promise<void> {
    return new Promise((resolve, reject) => {
      let outcome: WorkerResponse | undefined;
      const child = fork(workerFile(), [JSON.stringify(data)], {
        // Its own flags (not this process's: an inspector port would clash), no secrets in
        // its environment: it needs neither.
        execArgv: ['--liftoff-only'],
        env: {},
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.once('message', (message: WorkerResponse) => (outcome = message));
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        if (outcome && 'error' in outcome) reject(new EmbeddedDatabaseError(outcome.error));
        else if (outcome && code === 0) resolve();
        else reject(new Error(`embedded database initialisation exited (${signal ?? code})`));
      });
    });
  }

  private static async start(data: PgliteWorkerData): Promise<PgliteWorkerClient> {
    const worker = new Worker(workerFile(), {
      workerData: data,
      // The worker's JavaScript only passes messages; its memory is PGlite's WASM heap. A
      // small young generation keeps the default 16 MB semi-spaces from idling in RSS.
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    const client = new PgliteWorkerClient(worker);
    // id 0 is the worker's "ready" (or the error that stopped it opening the database).
    const ready = new Promise<unknown>((resolve, reject) =>
      client.pending.set(0, { resolve, reject }),
    );
    try {
      await ready;
    } catch (error) {
      await worker.terminate();
      throw error;
    }
    return client;
  }

  private send<T>(request: Request): Promise<T> {
    if (this.gone) return Promise.reject(this.gone);
    const id = this.nextId;
    this.nextId += 1;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  query<T>(sql: string, params: unknown[] = [], options: QueryOptions = {}, tx?: number) {
    return this.send<Results<T>>({
      op: 'query',
      sql,
      params,
      rowMode: options.rowMode ?? 'object',
      // Drizzle passes identity parsers for the types it maps itself (dates, intervals).
      rawTypes: Object.keys(options.parsers ?? {}).map(Number),
      tx,
    });
  }

  exec(sql: string, tx?: number) {
    return this.send<Results[]>({ op: 'exec', sql, tx });
  }

  /** Runs the statements in one transaction in a single round trip to the worker. */
  batch(statements: readonly SqlStatement[]): Promise<void> {
    return this.send<void>({ op: 'batch', statements });
  }

  /** BEGIN in the worker, `callback` with a handle on it, then COMMIT (or ROLLBACK on a throw). */
  async transaction<T>(callback: (tx: PgliteTransactionHandle) => Promise<T>): Promise<T> {
    const tx = await this.send<number>({ op: 'begin' });
    let result: T;
    try {
      result = await callback(new PgliteTransactionHandle(this, tx));
    } catch (error) {
      await this.send({ op: 'end', tx, commit: false }).catch(() => undefined);
      throw error;
    }
    await this.send({ op: 'end', tx, commit: true });
    return result;
  }

  /** Drizzle's driver takes a PGlite; this offers the methods it calls. */
  asPglite(): PGlite {
    return this as unknown as PGlite;
  }

  async close(): Promise<void> {
    if (!this.gone) await this.send({ op: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }
}

/** A transaction's view: the same calls, tagged with the transaction's id. */
class PgliteTransactionHandle {
  constructor(
    private readonly client: PgliteWorkerClient,
    private readonly tx: number,
  ) {}

  query<T>(sql: string, params?: unknown[], options?: QueryOptions) {
    return this.client.query<T>(sql, params, options, this.tx);
  }

  exec(sql: string) {
    return this.client.exec(sql, this.tx);
  }
}
