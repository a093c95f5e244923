import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { PolicyUsageEntry } from './policy-usage.repository';
import type { UsageSettlement } from './usage-ledger';
import type { UsageEntry } from './usage.repository';

/** One settlement in the journal, numbered. */
export interface JournalRecord extends UsageSettlement {
  readonly seq: number;
}

/** What `read` found on disk. */
export interface JournalContents {
  /** Every intact record, in sequence order. */
  readonly records: JournalRecord[];
  /** The highest sequence number seen (0: none). */
  readonly lastSeq: number;
  /** Bytes after the last intact record of the last segment (a write cut short), ignored. */
  readonly tornBytes: number;
}

/** A record that cannot be read, with intact ones after it: start refuses (docs/database.md). */
export class UsageJournalDamagedError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(
      `usage journal damaged at ${file} line ${line} (${reason}), with intact records after it. ` +
        'Keyward does not start rather than lose or double-count usage: see docs/database.md ' +
        '"The usage journal" for how to repair it.',
    );
    this.name = 'UsageJournalDamagedError';
  }
}

/** A segment no longer written to: deleted once every record in it is applied. */
interface SealedSegment {
  readonly path: string;
  readonly lastSeq: number;
}

/** The journal's directory under DATA_DIR. */
export const USAGE_JOURNAL_DIR = 'usage-journal';

const SEGMENT_SUFFIX = '.jsonl';
/** Segment names are their first sequence number, zero-padded so names sort as numbers. */
const segmentName = (firstSeq: number) => `${String(firstSeq).padStart(16, '0')}${SEGMENT_SUFFIX}`;

/**
 * The embedded database's usage journal (docs/database.md "The usage journal"): append-only
 * segment files in one directory, one settlement per line as `<crc32 hex> <json>\n`.
 * `append` is a synchronous `write` to an open file: when it returns, the line is in the
 * operating system's page cache and survives the process being killed, as PGlite's own
 * writes do. A segment is sealed once it reaches `segmentBytes` and deleted once the ledger
 * has applied all of it. Not thread-safe, and one process per directory (DATA_DIR's lock).
 */
export class UsageJournal {
  private fd?: number;
  private path?: string;
  private size = 0;
  private nextSeq = 1;
  private lastAppended = 0;
  private readonly sealed: SealedSegment[] = [];
  /** A failed append could not be undone: nothing more goes into this journal. */
  private broken = false;

  constructor(
    readonly dir: string,
    private readonly segmentBytes = 1024 * 1024,
  ) {}

  /**
   * Reads every segment. A torn tail (a cut-short or unreadable end of the last segment,
   * after a kill during a write) is ignored and counted; an unreadable record followed by
   * intact ones, or anywhere but the last segment, throws UsageJournalDamagedError.
   */
  read(): JournalContents {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const files = this.segments();
    const records: JournalRecord[] = [];
    let tornBytes = 0;
    let lastSeq = 0;
    files.forEach((name, index) => {
      const last = index === files.length - 1;
      const text = readFileSync(join(this.dir, name), 'utf8');
      const lines = text.split('\n');
      // After the final newline: '' when the file ends with one, else a cut-short line.
      const rest = lines.pop() ?? '';
      const bad: Array<{ line: number; reason: string; bytes: number }> = [];
      lines.forEach((line, at) => {
        const parsed = parseLine(line);
        if (typeof parsed === 'string') {
          bad.push({ line: at + 1, reason: parsed, bytes: Buffer.byteLength(line) + 1 });
          return;
        }
        if (bad.length > 0) {
          throw new UsageJournalDamagedError(join(this.dir, name), bad[0].line, bad[0].reason);
        }
        if (parsed.seq <= lastSeq) {
          throw new UsageJournalDamagedError(
            join(this.dir, name),
            at + 1,
            `sequence ${parsed.seq} after ${lastSeq}`,
          );
        }
        lastSeq = parsed.seq;
        records.push(parsed);
      });
      if (rest.length > 0) bad.push({ line: lines.length + 1, reason: 'no newline', bytes: 0 });
      if (bad.length === 0) return;
      if (!last)
        throw new UsageJournalDamagedError(join(this.dir, name), bad[0].line, bad[0].reason);
      tornBytes = bad.reduce((sum, b) => sum + b.bytes, 0) + Buffer.byteLength(rest);
    });
    return { records, lastSeq, tornBytes };
  }

  /**
   * Once what `read` found is applied: deletes every segment and starts a new one whose
   * first record is `nextSeq`.
   */
  start(nextSeq: number): void {
    this.close();
    for (const name of this.segments()) rmSync(join(this.dir, name), { force: true });
    this.nextSeq = nextSeq;
    this.lastAppended = nextSeq - 1;
    this.sealed.length = 0;
    this.broken = false;
  }

  /** The sequence number of the last record appended (or the one before `start`'s). */
  get lastSeq(): number {
    return this.lastAppended;
  }

  /**
   * Appends one settlement and answers its sequence number. Throws when the line could not
   * be written whole (disk full...): whatever was written of it is cut off again, so the
   * journal never holds half a record followed by whole ones.
   */
  append(settlement: UsageSettlement): number {
    if (this.broken) throw new Error('usage journal closed after a failed write');
    const fd = this.fd ?? this.open();
    const seq = this.nextSeq;
    const line = formatLine({ seq, usage: settlement.usage, policy: settlement.policy });
    const bytes = Buffer.byteLength(line);
    try {
      const written = writeSync(fd, line);
      if (written !== bytes) throw new Error(`short write (${written} of ${bytes} bytes)`);
    } catch (error) {
      this.undo(fd);
      throw error;
    }
    this.nextSeq = seq + 1;
    this.lastAppended = seq;
    this.size += bytes;
    if (this.size >= this.segmentBytes) this.seal();
    return seq;
  }

  /** Deletes the sealed segments whose records are all applied (sequence ≤ `appliedSeq`). */
  release(appliedSeq: number): void {
    while (this.sealed.length > 0 && this.sealed[0].lastSeq <= appliedSeq) {
      const segment = this.sealed.shift()!;
      rmSync(segment.path, { force: true });
    }
  }

  /**
   * Closes the open segment. With `applied`, every record is applied: the segments are
   * deleted (the next start finds nothing to replay).
   */
  close(applied = false): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (applied) {
      for (const segment of this.sealed) rmSync(segment.path, { force: true });
      this.sealed.length = 0;
      if (this.path) rmSync(this.path, { force: true });
    } else if (this.path) {
      this.sealed.push({ path: this.path, lastSeq: this.lastAppended });
    }
    this.path = undefined;
    this.size = 0;
  }

  private segments(): string[] {
    return readdirSync(this.dir)
      .filter((name) => name.endsWith(SEGMENT_SUFFIX))
      .sort();
  }

  private open(): number {
    const path = join(this.dir, segmentName(this.nextSeq));
    const fd = openSync(path, 'a', 0o600);
    this.fd = fd;
    this.path = path;
    this.size = 0;
    return fd;
  }

  private seal(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.sealed.push({ path: this.path!, lastSeq: this.lastAppended });
    this.fd = undefined;
    this.path = undefined;
    this.size = 0;
  }

  /** Cuts a failed line off the segment; if even that fails, the journal takes no more lines. */
  private undo(fd: number): void {
    try {
      ftruncateSync(fd, this.size);
    } catch {
      // The cut-short line stays at the end of the last segment, where `read` ignores it.
      this.broken = true;
    }
  }
}

/** `<crc32 of the JSON, 8 hex digits> <JSON>\n`. */
function formatLine(record: JournalRecord): string {
  const { usage, policy } = record;
  const json = JSON.stringify({
    seq: record.seq,
    userId: usage.userId,
    day: usage.day,
    model: usage.model,
    promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens,
    cachedTokens: usage.cachedTokens,
    reasoningTokens: usage.reasoningTokens,
    costNanos: usage.costNanos,
    policy,
  });
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

/** The record on a line, or why it is not one. */
function parseLine(line: string): JournalRecord | string {
  const space = line.indexOf(' ');
  if (space !== 8) return 'no checksum';
  const json = line.slice(space + 1);
  if (crc32(json).toString(16).padStart(8, '0') !== line.slice(0, 8)) return 'checksum mismatch';
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return 'not JSON';
  }
  const v = value as Record<string, unknown>;
  const count = (key: string) => Number.isSafeInteger(v[key]) && (v[key] as number) >= 0;
  if (
    !count('seq') ||
    (v.seq as number) < 1 ||
    typeof v.userId !== 'string' ||
    typeof v.day !== 'string' ||
    typeof v.model !== 'string' ||
    !['promptTokens', 'completionTokens', 'cachedTokens', 'reasoningTokens', 'costNanos'].every(
      count,
    ) ||
    !Array.isArray(v.policy) ||
    !v.policy.every(isPolicyEntry)
  ) {
    return 'not a usage record';
  }
  const usage: UsageEntry = {
    userId: v.userId,
    day: v.day,
    model: v.model,
    promptTokens: v.promptTokens as number,
    completionTokens: v.completionTokens as number,
    cachedTokens: v.cachedTokens as number,
    reasoningTokens: v.reasoningTokens as number,
    costNanos: v.costNanos as number,
  };
  return { seq: v.seq as number, usage, policy: v.policy };
}

function isPolicyEntry(value: unknown): value is PolicyUsageEntry {
  const v = value as Record<string, unknown> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.subject === 'string' &&
    typeof v.day === 'string' &&
    Number.isSafeInteger(v.tokens) &&
    Number.isSafeInteger(v.costNanos)
  );
}
