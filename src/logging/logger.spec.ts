import { Writable } from 'node:stream';
import { createLogger, PinoNestLogger, redactUrl } from './logger';

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

  it('redacts Set-Cookie whether a handler logs the reply or its headers', () => {
    const { lines, logger } = capture();
    const setCookie = ['__Host-kw_access=eyJhbGciOi.secret; Path=/', 'kw_refresh=e1.iv.sealed'];
    logger.info({ res: { statusCode: 200, headers: { 'set-cookie': setCookie } } }, 'reply');
    logger.info({ headers: { 'set-cookie': setCookie, 'content-type': 'text/plain' } }, 'headers');
    expect(lines).toHaveLength(2);
    // The reply serializer keeps no headers at all; loose headers are redacted by path.
    for (const line of lines)
      expect(line).not.toMatch(/eyJhbGciOi|e1\.iv\.sealed|kw_access|kw_refresh/);
    expect(JSON.parse(lines[1]).headers).toEqual({
      'set-cookie': '[redacted]',
      'content-type': 'text/plain',
    });
  });

  it("keeps a failed query's parameters out of error lines, causes and Nest traces included", () => {
    const { lines, logger } = capture();
    // The shape of drizzle-orm's DrizzleQueryError.
    const failed = Object.assign(
      new Error(
        'Failed query: update users set password_hash = $1\nparams: $argon2id$v=19$secret-hash,alice',
      ),
      {
        query: 'update users set password_hash = $1',
        params: ['$argon2id$v=19$secret-hash', 'alice'],
      },
    );
    logger.error({ err: failed }, 'request failed');
    logger.error({ err: new Error('outer', { cause: failed }) }, 'request failed');
    new PinoNestLogger(logger).error(failed.message, failed.stack, 'Test');
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).not.toMatch(/secret-hash|alice/);
      expect(line).toContain('params: [redacted]');
    }
    expect(JSON.parse(lines[0]).err.query).toBe('update users set password_hash = $1');
  });

  it('masks token-like query parameters in URLs', () => {
    expect(redactUrl('/x?access_token=abc&page=2&api_key=kw_1')).toBe(
      '/x?access_token=[redacted]&page=2&api_key=[redacted]',
    );
  });
});
