import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UsageSettlement } from './usage-ledger';
import { UsageJournal, UsageJournalDamagedError } from './usage-journal';

const settlement = (userId: string, promptTokens = 10): UsageSettlement => ({
  usage: {
    userId,
    day: '2026-11-30',
    model: 'gpt-4o-mini',
    promptTokens,
    completionTokens: 5,
    cachedTokens: 2,
    reasoningTokens: 1,
    costNanos: 1234,
  },
  policy: [{ subject: 'key:k1', day: '2026-11-30', tokens: promptTokens + 5, costNanos: 1234 }],
});

describe(UsageJournal.name, () => {
  let dir: string;
  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'keyward-journal-')), 'usage-journal');
  });
  afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

  const files = () => readdirSync(dir).sort();
  const fresh = (segmentBytes?: number) => {
    const journal = new UsageJournal(dir, segmentBytes);
    expect(journal.read().records).toEqual([]);
    journal.start(1);
    return journal;
  };

  it('appends numbered lines that read back as the same settlements, in order', () => {
    const journal = fresh();
    expect(journal.append(settlement('a'))).toBe(1);
    expect(journal.append(settlement('b', 20))).toBe(2);
    journal.close();

    const lines = readFileSync(join(dir, files()[0]), 'utf8').split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^[0-9a-f]{8} \{"seq":1,"userId":"a",/);
    expect(lines[2]).toBe('');
    const read = new UsageJournal(dir).read();
    expect(read).toEqual({
      records: [
        { seq: 1, ...settlement('a') },
        { seq: 2, ...settlement('b', 20) },
      ],
      lastSeq: 2,
      tornBytes: 0,
    });
  });

  it('ignores and counts a cut-short last line (killed mid-write)', () => {
    const journal = fresh();
    journal.append(settlement('a'));
    journal.append(settlement('b'));
    journal.close();
    const [file] = files();
    // Half of a third line, no newline: what a kill during the write leaves.
    const third = readFileSync(join(dir, file), 'utf8').split('\n')[1].replace('"b"', '"c"');
    appendFileSync(join(dir, file), third.slice(0, 40));

    const read = new UsageJournal(dir).read();
    expect(read.records.map((r) => r.usage.userId)).toEqual(['a', 'b']);
    expect(read.tornBytes).toBe(40);
  });

  it('ignores a last line whose checksum does not match, or zeros after a crash', () => {
    const journal = fresh();
    journal.append(settlement('a'));
    journal.close();
    const [file] = files();
    const line = readFileSync(join(dir, file), 'utf8').replace(
      '"promptTokens":10',
      '"promptTokens":99',
    );
    appendFileSync(join(dir, file), line);
    appendFileSync(join(dir, file), Buffer.alloc(64));

    const read = new UsageJournal(dir).read();
    expect(read.records.map((r) => r.usage.promptTokens)).toEqual([10]);
    expect(read.tornBytes).toBe(Buffer.byteLength(line) + 64);
  });

  it('refuses a damaged record with intact ones after it, naming the file and line', () => {
    const journal = fresh();
    for (const user of ['a', 'b', 'c']) journal.append(settlement(user));
    journal.close();
    const [file] = files();
    const lines = readFileSync(join(dir, file), 'utf8').split('\n');
    lines[1] = lines[1].replace('"b"', '"x"');
    writeFileSync(join(dir, file), lines.join('\n'));

    const reading = () => new UsageJournal(dir).read();
    expect(reading).toThrow(UsageJournalDamagedError);
    expect(reading).toThrow(`${join(dir, file)} line 2 (checksum mismatch)`);
  });

  it('refuses a damaged end of a segment that is not the last one', () => {
    const journal = fresh(1);
    journal.append(settlement('a'));
    journal.append(settlement('b'));
    journal.close();
    const [first] = files();
    appendFileSync(join(dir, first), 'cut sh');
    expect(() => new UsageJournal(dir).read()).toThrow(`${join(dir, first)} line 2 (no newline)`);
  });

  it('seals full segments and deletes them only once every record in them is applied', () => {
    // Each line is 246 bytes: two lines fill a 400-byte segment.
    const journal = fresh(400);
    for (const user of ['a', 'b', 'c', 'd', 'e']) journal.append(settlement(user));
    expect(files()).toEqual([
      '0000000000000001.jsonl',
      '0000000000000003.jsonl',
      '0000000000000005.jsonl',
    ]);
    journal.release(3);
    // Records 3 and 4 share a segment: 4 is not applied yet, so it stays.
    expect(files()).toEqual(['0000000000000003.jsonl', '0000000000000005.jsonl']);
    journal.release(4);
    expect(files()).toEqual(['0000000000000005.jsonl']);
    // The open segment is not deleted by release, whatever is applied.
    journal.release(5);
    expect(files()).toEqual(['0000000000000005.jsonl']);
    expect(new UsageJournal(dir).read().records.map((r) => r.seq)).toEqual([5]);
  });

  it('start() empties the journal and numbers on from where it is told', () => {
    const journal = fresh(500);
    for (const user of ['a', 'b', 'c']) journal.append(settlement(user));
    journal.close();

    const next = new UsageJournal(dir, 500);
    const found = next.read();
    expect(found.lastSeq).toBe(3);
    next.start(found.lastSeq + 1);
    expect(files()).toEqual([]);
    expect(next.append(settlement('d'))).toBe(4);
    expect(files()).toEqual(['0000000000000004.jsonl']);
  });

  it('close(true) deletes what is fully applied; close() keeps it for the next start', () => {
    const kept = fresh();
    kept.append(settlement('a'));
    kept.close();
    expect(files()).toHaveLength(1);

    const journal = new UsageJournal(dir);
    journal.start(journal.read().lastSeq + 1);
    journal.append(settlement('b'));
    journal.close(true);
    expect(files()).toEqual([]);
  });

  it('throws when a segment cannot be opened, and appends again once it can', () => {
    const journal = fresh();
    rmSync(dir, { recursive: true, force: true });
    expect(() => journal.append(settlement('a'))).toThrow(/ENOENT/);
    mkdirSync(dir);
    expect(journal.append(settlement('b'))).toBe(1);
  });

  const devFull = existsSync('/dev/full') ? it : it.skip;
  devFull('throws on a full disk (ENOSPC) and then takes no more lines', () => {
    const journal = fresh();
    // The next segment is a device that answers every write with ENOSPC.
    symlinkSync('/dev/full', join(dir, '0000000000000001.jsonl'));
    expect(() => journal.append(settlement('a'))).toThrow(/ENOSPC/);
    expect(() => journal.append(settlement('b'))).toThrow(/closed after a failed write/);
  });
});
