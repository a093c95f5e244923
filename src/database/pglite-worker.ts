/**
 * The embedded database's thread: PGlite runs every query synchronously inside its WASM
 * module, so on the main thread a usage write or a burst of sign-ins stalls every request
 * in flight. Here it runs in a worker_threads Worker; `PgliteWorkerClient` is the main
 * thread's side of the small message protocol below. See docs/database.md.
 *
 * Run as a child process instead (`child_process.fork`, the worker data as its one
 * argument), it creates a new data directory (initdb), migrates it and exits: initdb's
 * memory goes with the process (docs/database.md "Memory and start time").
 *
 * This file must stay runnable by Node as it is (Node strips the types of a `.ts` worker in
 * the test runner): only erasable TypeScript, no imports of project files (the initdb child gets the
 * migrations folder in its argument, `PgliteInitData`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';

export interface PgliteWorkerData {
  readonly dir: string;
  /** PostgreSQL settings for this instance (`name = value` lines). */
  readonly postgresqlconf: readonly string[];
}

/** The initdb child's argument: the worker's data and the migrations to run (the worker runs none). */
export interface PgliteInitData extends PgliteWorkerData {
  readonly migrationsFolder: string;
}

/** Main thread → worker. `tx`: run inside that open transaction. */
export type WorkerRequest =
  | {
      readonly id: number;
      readonly op: 'query';
      readonly sql: string;
      readonly params: unknown[];
      readonly rowMode: 'array' | 'object';
      /** Type OIDs to return as PostgreSQL's text (Drizzle maps dates itself). */
      readonly rawTypes: number[];
      readonly tx?: number;
    }
  | { readonly id: number; readonly op: 'exec'; readonly sql: string; readonly tx?: number }
  | { readonly id: number; readonly op: 'batch'; readonly statements: readonly SqlStatement[] }
  | { readonly id: number; readonly op: 'begin' }
  | { readonly id: number; readonly op: 'end'; readonly tx: number; readonly commit: boolean }
  | { readonly id: number; readonly op: 'close' };

/** One statement as SQL text with its parameters. */
export interface SqlStatement {
  readonly sql: string;
  readonly params: unknown[];
}

/** Worker → main thread. `id: 0` with `ready` once the database is open. */
export type WorkerResponse =
  | { readonly id: number; readonly result: unknown }
  | { readonly id: number; readonly error: SerializedError };

export interface SerializedError {
  readonly message: string;
  readonly name: string;
  /** The driver's own fields (SQLSTATE `code`, `detail`, `constraint`...). */
  readonly fields: Record<string, unknown>;
}

function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { message: String(error), name: 'Error', fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (value === undefined || typeof value === 'function' || typeof value === 'object') continue;
    fields[key] = value;
  }
  return { message: error.message, name: error.name, fields };
}

const identity = (value: unknown): unknown => value;

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('pglite-worker runs only as a worker thread');
  const data = workerData as PgliteWorkerData;
  // Listening first: a pending WebAssembly compile does not keep a worker's event loop
  // alive, and without a listener the thread exited (code 0) while PGlite was loading.
  const queued: WorkerRequest[] = [];
  let dispatch = (message: WorkerRequest) => void queued.push(message);
  port.on('message', (message: WorkerRequest) => dispatch(message));

  // Migrations are the main thread's (Drizzle's migrator through this protocol): Drizzle
  // loaded here cost the thread ~10 MiB of RSS for good (docs/database.md).
  const db = await PGlite.create(data.dir, { postgresqlconf: [...data.postgresqlconf] });

  // Open transactions: PGlite holds every other query until the callback returns, which is
  // what a single connection does; `end` settles it.
  const open = new Map<
    number,
    { tx: Transaction; settled: Promise<void>; end: (commit: boolean) => void }
  >();
  let nextTx = 1;

  const handle = async (message: WorkerRequest): Promise<unknown> => {
    switch (message.op) {
      case 'query': {
        const target = message.tx === undefined ? db : open.get(message.tx)?.tx;
        if (!target) throw new Error('transaction is not open');
        const parsers = Object.fromEntries(message.rawTypes.map((oid) => [oid, identity]));
        return target.query(message.sql, message.params, { rowMode: message.rowMode, parsers });
      }
      case 'exec': {
        const target = message.tx === undefined ? db : open.get(message.tx)?.tx;
        if (!target) throw new Error('transaction is not open');
        return target.exec(message.sql);
      }
      case 'batch':
        // One message, one transaction: all the statements commit together or none does.
        await db.transaction(async (tx) => {
          for (const statement of message.statements)
            await tx.query(statement.sql, statement.params);
        });
        return null;
      case 'begin': {
        const id = nextTx;
        nextTx += 1;
        return new Promise<number>((begun, failed) => {
          let started = false;
          const settled = db
            .transaction(
              (tx) =>
                new Promise<void>((commit, rollback) => {
                  started = true;
                  open.set(id, {
                    tx,
                    settled,
                    end: (ok) => (ok ? commit() : rollback(new Error('rolled back'))),
                  });
                  begun(id);
                }),
            )
            .then(
              () => undefined,
              (error: unknown) => {
                // After a start, a rejection is the requested rollback; before, BEGIN failed.
                if (!started) failed(error instanceof Error ? error : new Error(String(error)));
              },
            )
            .finally(() => open.delete(id));
        });
      }
      case 'end': {
        const entry = open.get(message.tx);
        if (!entry) throw new Error('transaction is not open');
        entry.end(message.commit);
        // The reply waits for COMMIT/ROLLBACK to have run: the next query sees its result.
        await entry.settled;
        return null;
      }
      case 'close':
        await db.close();
        return null;
    }
  };

  dispatch = (message) => {
    handle(message).then(
      (result) => port.postMessage({ id: message.id, result } satisfies WorkerResponse),
      (error: unknown) =>
        port.postMessage({ id: message.id, error: serializeError(error) } satisfies WorkerResponse),
    );
  };
  for (const message of queued.splice(0)) dispatch(message);
  port.postMessage({ id: 0, result: 'ready' } satisfies WorkerResponse);
}

/** The child process's whole job: create (initdb) and migrate the directory, then close it. */
async function initialise(data: PgliteInitData): Promise<void> {
  const [{ drizzle }, { migrate }] = await Promise.all([
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  const db = await PGlite.create(data.dir, { postgresqlconf: [...data.postgresqlconf] });
  await migrate(drizzle(db), { migrationsFolder: data.migrationsFolder });
  await db.close();
}

if (parentPort) {
  main().catch((error: unknown) => {
    parentPort?.postMessage({ id: 0, error: serializeError(error) } satisfies WorkerResponse);
  });
} else if (process.send) {
  const reply = (message: WorkerResponse) => process.send?.(message, () => process.disconnect());
  initialise(JSON.parse(process.argv[2] ?? '{}') as PgliteInitData).then(
    () => reply({ id: 0, result: 'ready' }),
    (error: unknown) => reply({ id: 0, error: serializeError(error) }),
  );
}
