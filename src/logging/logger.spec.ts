import { Writable } from 'node:stream';
import { createLogger, isoTime, PinoNestLogger, redactUrl, requestLogger } from './logger';

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
  it('leaves a URL without a query string as it is', () => {
    expect(redactUrl('/api/v1/auth/me')).toBe('/api/v1/auth/me');
    expect(redactUrl('/api/v1/keys/token=abc')).toBe('/api/v1/keys/token=abc');
  });

  it("writes the time as pino's isoTime does, across seconds, millisecond padding included", () => {
    const instants = [
      Date.UTC(2026, 10, 30, 17, 3, 12, 372),
      Date.UTC(2026, 10, 30, 17, 3, 12, 7),
      Date.UTC(2026, 10, 30, 17, 3, 12, 45),
      Date.UTC(2026, 10, 30, 17, 3, 13, 0),
      Date.UTC(2026, 11, 31, 23, 59, 59, 999),
      Date.UTC(2027, 0, 1, 0, 0, 0, 1),
      Date.UTC(2026, 10, 30, 17, 3, 12, 999),
    ];
    const now = jest.spyOn(Date, 'now');
    try {
      for (const instant of instants) {
        now.mockReturnValue(instant);
        expect(isoTime()).toBe(`,"time":"${new Date(instant).toISOString()}"`);
      }
    } finally {
      now.mockRestore();
    }
  });

  it("binds the request id to a request's logger as pino's child() would, redaction kept", () => {
    const { lines, logger } = capture();
    const child = requestLogger(logger, { reqId: 'abc-"1"' });
    child.warn({ outcome: 'x' }, 'chat stream ended early');
    logger.child({ reqId: 'abc-"1"' }).warn({ outcome: 'x' }, 'chat stream ended early');
    child.info({ body: { password: 'hunter2hunter2' }, token: 't0ken' }, 'x');
    logger.info('parent line');
    expect(lines).toHaveLength(4);
    const untimed = (line: string) => line.replace(/"time":"[^"]+"/, '');
    expect(untimed(lines[0])).toBe(untimed(lines[1]));
    expect(JSON.parse(lines[0]).reqId).toBe('abc-"1"');
    expect(lines[2]).not.toMatch(/hunter2|t0ken/);
    expect(child.bindings()).toEqual({ service: 'keyward', reqId: 'abc-"1"' });
    expect(JSON.parse(lines[3]).reqId).toBeUndefined();
    // Anything besides the request id goes through pino's own child(), a route's level too.
    requestLogger(logger, { reqId: 'r', token: 'secret-token' }).info('x');
    expect(lines[4]).not.toContain('secret-token');
    const quiet = requestLogger(logger, { reqId: 'q' }, { level: 'warn' });
    quiet.info('dropped');
    quiet.warn('kept');
    expect(lines).toHaveLength(6);
    expect(JSON.parse(lines[5])).toMatchObject({ reqId: 'q', msg: 'kept' });
  });
});
