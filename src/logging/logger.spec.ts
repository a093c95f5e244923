import { Writable } from 'node:stream';
import { createLogger, redactUrl } from './logger';

function capture() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, logger: createLogger('info', sink) };
}

describe(createLogger.name, () => {
  it('writes one JSON line per entry, escaping control characters from user input', () => {
    const { lines, logger } = capture();
    logger.info({ username: 'evil\n{"level":60,"msg":"forged"}\u001b[31m' }, 'login failed');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]).username).toContain('\n');
    expect(lines[0]).not.toContain('\u001b');
    expect(lines[0]).toContain('\\n');
  });

  it('redacts credentials wherever a handler logs them', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        req: { headers: { authorization: 'Bearer secret-token', cookie: 'kw_access=abc' } },
        body: { password: 'hunter2hunter2' },
      },
      'x',
    );
    expect(lines[0]).not.toMatch(/secret-token|kw_access=abc|hunter2/);
    expect(lines[0]).toContain('[redacted]');
  });

  it('masks token-like query parameters in URLs', () => {
    expect(redactUrl('/x?access_token=abc&page=2&api_key=kw_1')).toBe(
      '/x?access_token=[redacted]&page=2&api_key=[redacted]',
    );
  });
});
