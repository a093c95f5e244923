import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuditModule } from './audit/audit.module';
import { AuditService, formatHead, parseHead } from './audit/audit.service';
import { ConfigError } from './config/config-error';
import type { KeywardConfig } from './config/configuration';
import { keywardConfigModule } from './config/keyward-config.module';
import { loadConfigFromProviders } from './config/load-config-from-providers';
import { acquireDataDirLock, DataDirLockedError } from './database/data-dir-lock';
import { DatabaseModule } from './database/database.module';
import { DatabaseService } from './database/database.service';
import { ROLES, type Role } from './database/schema';
import { DomainError } from './common/domain-error';
import { describeReplay, journalUsageLedger } from './usage/journal-usage.ledger';
import { PolicyUsageRepository } from './usage/policy-usage.repository';
import { USAGE_JOURNAL_DIR, UsageJournalDamagedError } from './usage/usage-journal';
import { UsageRepository } from './usage/usage.repository';
import { UsersModule } from './users/users.module';
import { UsersService } from './users/users.service';

const USAGE = `Usage: npm run cli -- <command>
  users create <username> [--role admin|user] [--password-stdin]
  users list
  users disable <username>
  users enable <username>
  audit head                        print the newest row as <id>:<hash>; keep it elsewhere
  audit verify [--head <id>:<hash>] check the chain (and that an exported head is still in it)
  journal apply                     apply a usage journal left by a crash to the database`;

export interface CliIo {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly stdout: Pick<NodeJS.WriteStream, 'write'>;
  readonly stderr: Pick<NodeJS.WriteStream, 'write'>;
}

@Module({})
class CliModule {
  static forRoot(config: KeywardConfig) {
    return {
      module: CliModule,
      imports: [keywardConfigModule(config), DatabaseModule, AuditModule, UsersModule],
      providers: [UsageRepository, PolicyUsageRepository],
    };
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let data = '';
  for await (const chunk of stream) data += String(chunk);
  return data;
}

/** Reads a password from a terminal without echoing it. */
async function prompt(io: CliIo, question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!muted) io.stdout.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: io.stdin, output, terminal: true });
  const answer = new Promise<string>((resolve) => rl.question(question, resolve));
  muted = true;
  const value = await answer;
  rl.close();
  io.stdout.write('\n');
  return value;
}

async function readPassword(io: CliIo, fromStdin: boolean): Promise<string> {
  if (fromStdin) return (await readAll(io.stdin)).replace(/\r?\n$/, '');
  if (!io.stdin.isTTY) throw new CliError('no terminal to prompt on: use --password-stdin');
  const first = await prompt(io, 'Password: ');
  const second = await prompt(io, 'Repeat password: ');
  if (first !== second) throw new CliError('the passwords do not match');
  return first;
}

class CliError extends Error {}

/** Runs one CLI command; returns the process exit code. */
export async function runCli(
  args: string[],
  io: CliIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const [group, command, ...rest] = args;
  const flag = (name: string) => rest.includes(name);
  const option = (name: string) => {
    const index = rest.indexOf(name);
    return index >= 0 ? rest[index + 1] : undefined;
  };
  if (!group || !command || !['users', 'audit', 'journal'].includes(group)) {
    io.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let config: KeywardConfig;
  try {
    config = await loadConfigFromProviders({ ...env, LOG_LEVEL: 'silent' });
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n`);
    return error instanceof ConfigError ? 1 : 1;
  }
  let app: INestApplicationContext;
  try {
    app = await NestFactory.createApplicationContext(CliModule.forRoot(config), {
      logger: false,
      // Errors at start (a DATA_DIR held by the server) come back here to be reported,
      // instead of Nest ending the process without a word.
      abortOnError: false,
    });
  } catch (error) {
    if (!(error instanceof DataDirLockedError)) throw error;
    io.stderr.write(`error: ${error.message}\n`);
    return 1;
  }
  try {
    const users = app.get(UsersService);
    const key = `${group} ${command}`;
    switch (key) {
      case 'users create': {
        const username = rest[0];
        if (!username || username.startsWith('--')) throw new CliError('a username is required');
        const role = (option('--role') ?? 'user') as Role;
        if (!ROLES.includes(role)) throw new CliError(`--role must be one of ${ROLES.join(', ')}`);
        const password = await readPassword(io, flag('--password-stdin'));
        const user = await users.create({ username, password, roles: [role] });
        io.stdout.write(`created ${user.username} (${user.id}) with role ${role}\n`);
        return 0;
      }
      case 'users list': {
        for (const user of await users.list()) {
          io.stdout.write(
            `${user.id}  ${user.username}  ${user.roles.join(',')}${user.disabled ? '  (disabled)' : ''}\n`,
          );
        }
        return 0;
      }
      case 'users disable':
      case 'users enable': {
        const user = rest[0] ? await users.findByUsername(rest[0]) : undefined;
        if (!user) throw new CliError('no such user');
        await users.update(user.id, { disabled: command === 'disable' });
        io.stdout.write(`${command}d ${user.username}\n`);
        return 0;
      }
      case 'audit head': {
        const head = await app.get(AuditService).head();
        if (!head) throw new CliError('the audit log is empty');
        io.stdout.write(`${formatHead(head)}\n`);
        return 0;
      }
      case 'audit verify': {
        const headOption = option('--head');
        const head = headOption === undefined ? undefined : parseHead(headOption);
        if (headOption !== undefined && !head)
          throw new CliError('--head takes <id>:<hash> as printed by `audit head`');
        const result = await app.get(AuditService).verify({ head });
        if (result.ok) {
          const legacy = result.legacyRows
            ? ` (${result.legacyRows} from before the chain was keyed)`
            : '';
          io.stdout.write(
            `audit log intact: ${result.rows} rows verified${legacy}${head ? `, head ${head.id} present` : ''}\n`,
          );
          return 0;
        }
        io.stderr.write(`audit log BROKEN at row ${result.brokenAtId}: ${result.reason}\n`);
        return 3;
      }
      case 'journal apply':
        return await applyJournal(app, config, io);
      default:
        io.stderr.write(`${USAGE}\n`);
        return 2;
    }
  } catch (error) {
    if (error instanceof CliError) {
      io.stderr.write(`error: ${error.message}\n`);
      return 2;
    }
    if (error instanceof DataDirLockedError || error instanceof UsageJournalDamagedError) {
      io.stderr.write(`error: ${error.message}\n`);
      return 1;
    }
    if (error instanceof DomainError) {
      const fields = error.options.errors?.map((e) => `${e.field} ${e.message}`).join('; ');
      io.stderr.write(`error: ${error.detail}${fields ? ` (${fields})` : ''}\n`);
      return 1;
    }
    throw error;
  } finally {
    await app.close();
  }
}

/**
 * docs/database.md "The usage journal": applies a journal left in DATA_DIR by a crash to the
 * configured database, through the replay a start on the embedded database runs. With
 * DATABASE_URL the database takes no lock, so the DATA_DIR lock is taken here: a server on the
 * embedded database may still be appending to that journal.
 */
async function applyJournal(
  app: INestApplicationContext,
  config: KeywardConfig,
  io: CliIo,
): Promise<number> {
  const { url, dataDir, journalApplyMs } = config.database;
  if (!existsSync(join(dataDir, USAGE_JOURNAL_DIR))) {
    io.stdout.write(`no usage journal in ${dataDir}: nothing to apply\n`);
    return 0;
  }
  const release = url ? acquireDataDirLock(dataDir) : undefined;
  try {
    const ledger = journalUsageLedger(
      dataDir,
      app.get(DatabaseService),
      app.get(UsageRepository),
      app.get(PolicyUsageRepository),
      journalApplyMs,
    );
    const replay = await ledger.replay();
    await ledger.onApplicationShutdown();
    io.stdout.write(`${describeReplay(replay)}\n`);
    return 0;
  } finally {
    release?.();
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  })
    .then((code) => process.exit(code))
    .catch((error: unknown) => {
      process.stderr.write(`error: ${(error as Error).message}\n`);
      process.exit(1);
    });
}
