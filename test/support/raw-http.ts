import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly ms: number;
}

export type RawHeaders = Readonly<Record<string, string | string[] | number | undefined>>;

export interface RawRequest {
  readonly method: string;
  readonly path: string;
  /** An array value sends the header once per element (repeated headers, any name). */
  readonly headers?: RawHeaders;
  readonly body?: string | Buffer;
  /** The whole exchange must end within this; a hang is a failure, not a slow test. */
  readonly timeoutMs?: number;
}

/**
 * One HTTP exchange with nothing smoothed over: raw bytes as the body (duplicate keys,
 * invalid UTF-8), any content type or none, repeated headers. supertest and fetch would
 * each normalise some of that away. A fresh connection per request (`agent: false`), so one
 * broken exchange cannot poison the next.
 */
export function sendRaw(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(req.path, baseUrl);
  const started = performance.now();
  const timeoutMs = req.timeoutMs ?? 10_000;
  return new Promise<RawResponse>((resolve, reject) => {
    // Node sends an array as repeated lines for any header; its types only say so for some.
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers ?? {})) {
      if (value !== undefined) headers[name] = value;
    }
    if (req.body !== undefined && headers['content-length'] === undefined) {
      headers['content-length'] = Buffer.byteLength(req.body);
    }
    const outgoing = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: `${url.pathname}${url.search}`,
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - started,
          });
        });
        res.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
      },
    );
    const timer = setTimeout(() => {
      outgoing.destroy(new Error(`no complete answer within ${timeoutMs} ms (hang)`));
    }, timeoutMs);
    outgoing.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    outgoing.end(req.body);
  });
}
