import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedSecretsRequest {
  readonly target: string | undefined;
  readonly authorization: string | undefined;
  readonly secretId: unknown;
}

export interface MockSecretsManager {
  /** For `AWS_ENDPOINT_URL`: `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly requests: RecordedSecretsRequest[];
  /** Creates or replaces a secret (a new VersionId each time, as a rotation would). */
  setSecret(id: string, value: Record<string, unknown> | string): void;
  deleteSecret(id: string): void;
  close(): Promise<void>;
}

/**
 * Just enough of the Secrets Manager JSON protocol (awsJson1_1) for the real
 * `@aws-sdk/client-secrets-manager` to call GetSecretValue against it.
 */
export async function startMockSecretsManager(): Promise<MockSecretsManager> {
  const secrets = new Map<string, { value: string; version: number }>();
  const requests: RecordedSecretsRequest[] = [];
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    for await (const chunk of req) text += String(chunk);
    const target = req.headers['x-amz-target'];
    const body = JSON.parse(text || '{}') as { SecretId?: unknown };
    requests.push({
      target: typeof target === 'string' ? target : undefined,
      authorization: req.headers.authorization,
      secretId: body.SecretId,
    });
    if (req.method !== 'POST' || req.url !== '/' || target !== 'secretsmanager.GetSecretValue') {
      reply(res, 400, { __type: 'UnknownOperationException', message: 'not mocked' });
      return;
    }
    const secret = typeof body.SecretId === 'string' ? secrets.get(body.SecretId) : undefined;
    if (!secret || typeof body.SecretId !== 'string') {
      reply(res, 400, {
        __type: 'ResourceNotFoundException',
        message: "Secrets Manager can't find the specified secret.",
      });
      return;
    }
    reply(res, 200, {
      ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${body.SecretId}-AbCdEf`,
      Name: body.SecretId,
      SecretString: secret.value,
      VersionId: `00000000-0000-4000-8000-${String(secret.version).padStart(12, '0')}`,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: Date.now() / 1000,
    });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => reply(res, 500, { __type: 'InternalServiceError' }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setSecret(id, value) {
      const version = (secrets.get(id)?.version ?? 0) + 1;
      secrets.set(id, {
        value: typeof value === 'string' ? value : JSON.stringify(value),
        version,
      });
    },
    deleteSecret(id) {
      secrets.delete(id);
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
