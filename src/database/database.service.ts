import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import type { Pool } from 'pg';
import type { KeywardConfig } from '../config/configuration';
import { migrationsFolder } from './migrations-folder';
import type { SqlStatement } from './pglite-worker';
import type { PgliteWorkerClient } from './pglite-worker.client';
import { takeEmbeddedOpening } from './embedded-open';
import * as schema from './schema';

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

/** Arbitrary constant: serialises migrations when several instances start at once. */
const MIGRATION_LOCK_ID = 7_402_118_391;

/**
 * The one wrapper around the database: PGlite in `DATA_DIR/pgdata` by default, PostgreSQL
 * through `pg` when `DATABASE_URL` is set. The same Drizzle schema and migrations serve both.
 * PGlite runs in a worker thread (its queries are synchronous WASM calls) and this process
 * holds `DATA_DIR/keyward.lock` while it is open: see docs/database.md.
 */
@Injectable()
export class DatabaseService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseService.name);
  private pool?: Pool;
  private pglite?: PgliteWorkerClient;
  private releaseLock?: () => void;
  private database?: Database;

  constructor(private readonly config: ConfigService<KeywardConfig, true>) {}

  get db(): Database {
    if (!this.database) throw new Error('database used before it was opened');
    return this.database;
  }

  get kind(): 'postgres' | 'pglite' {
    return this.pool ? 'postgres' : 'pglite';
  }

  async onModuleInit(): Promise<void> {
    const { url, dataDir } = this.config.get('database', { infer: true });
    if (url) {
      // Loaded only when used: the embedded default never pays for the pg driver's memory.
      const [{ Pool }, { drizzle: drizzlePg }, { migrate: migratePg }] = await Promise.all([
        import('pg'),
        import('drizzle-orm/node-postgres'),
        import('drizzle-orm/node-postgres/migrator'),
      ]);
      this.pool = new Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000 });
      // An idle client's error (server restart) must not crash the process; the pool
      // replaces the client and the next query reports the failure to its caller.
      this.pool.on('error', (error) =>
        this.logger.warn(`PostgreSQL client error: ${error.message}`),
      );
      const db = drizzlePg(this.pool, { schema });
      const client = await this.pool.connect();
      try {
        await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
        await migratePg(db, { migrationsFolder: migrationsFolder() });
      } finally {
        await client
          .query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID])
          .catch(() => undefined);
        client.release();
      }
      this.database = db;
    } else {
      const opening = takeEmbeddedOpening(dataDir);
      this.releaseLock = opening.releaseLock;
      try {
        // The worker opens the directory (a child process creates and migrates a new one);
        // the migrations run from here, through the worker, so the worker never loads
        // Drizzle (docs/database.md "Memory and start time").
        this.pglite = await opening.client;
        const db = drizzlePglite({ client: this.pglite.asPglite(), schema });
        await migratePglite(db, { migrationsFolder: migrationsFolder() });
        this.database = db;
      } catch (error) {
        await this.pglite?.close();
        this.pglite = undefined;
        this.releaseLock();
        throw error;
      }
    }
    this.logger.log(`Database ready (${this.kind})`);
  }

  /**
   * One statement as SQL text, for a hot path where Drizzle's query builder costs more than
   * the statement itself (measured on PGlite: a usage upsert took ~0.9 ms through the builder,
   * ~0.25 ms as text). Unnamed on PostgreSQL, as Drizzle's own: named prepared statements
   * break behind a transaction-pooling PgBouncer.
   */
  async run(text: string, params: unknown[]): Promise<void> {
    if (this.pool) await this.pool.query(text, params);
    else if (this.pglite) await this.pglite.query(text, params);
    else throw new Error('database used before it was opened');
  }

  /**
   * Statements as SQL text in one transaction: all commit or none does (the embedded
   * database runs them in one message to its worker).
   */
  async runInTransaction(statements: readonly SqlStatement[]): Promise<void> {
    if (this.pglite) return this.pglite.batch(statements);
    if (!this.pool) throw new Error('database used before it was opened');
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      for (const statement of statements) await client.query(statement.sql, statement.params);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** One statement as SQL text, answering its rows (reports that build their SQL as text). */
  async query<T>(text: string, params: unknown[]): Promise<T[]> {
    if (this.pool) return (await this.pool.query(text, params)).rows as T[];
    if (this.pglite) return (await this.pglite.query<T>(text, params)).rows;
    throw new Error('database used before it was opened');
  }

  /** Readiness probe: one round trip. */
  async ping(): Promise<void> {
    await this.db.execute(sql`select 1`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool?.end();
    await this.pglite?.close();
    this.releaseLock?.();
    this.pool = undefined;
    this.pglite = undefined;
    this.releaseLock = undefined;
  }
}
