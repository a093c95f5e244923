import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { AuditService } from '../src/audit/audit.service';
import { SecretsRefreshService } from '../src/secrets/secrets-refresh.service';
import { type ChatHarness, startChatHarness } from './support/chat-harness';
import { type MockSecretsManager, startMockSecretsManager } from './support/mock-secrets-manager';
import { createTestApp } from './support/test-app';

const SECRET_ID = 'keyward/e2e';
const secret = (prefix: string) => `${prefix}-${randomBytes(24).toString('base64url')}`;
const hello = [{ role: 'user' as const, content: 'hello' }];

describe('SECRETS_PROVIDER=aws (AWS Secrets Manager through the real SDK)', () => {
  let sm: MockSecretsManager;
  let h: ChatHarness;
  const keyA = secret('sk-aws-a');
  const keyB = secret('sk-aws-b');
  const keyC = secret('sk-aws-c');
  const jwtSecret = secret('jwt');
  const jwtSecretRotated = secret('jwt-rotated');
  const cookieSecret = secret('cookie');
  // Under test:services every app shares one audit chain and so its key: the secret carries it.
  const auditKey = process.env.AUDIT_HMAC_KEY ?? secret('audit');
  const ignoredValue = secret('ignored');
  const allSecretValues = [
    keyA,
    keyB,
    keyC,
    jwtSecret,
    jwtSecretRotated,
    cookieSecret,
    auditKey,
    ignoredValue,
  ];

  const awsEnv = (overrides: Record<string, string> = {}) => ({
    SECRETS_PROVIDER: 'aws',
    AWS_SECRET_ID: SECRET_ID,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: sm.url,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    JWT_ALGORITHM: 'HS256',
    // The key comes from the AWS secret: the environment's (test:services) would conflict.
    AUDIT_HMAC_KEY: '',
    ...overrides,
  });

  beforeAll(async () => {
    sm = await startMockSecretsManager();
    sm.setSecret(SECRET_ID, {
      OPENAI_API_KEY: keyA,
      JWT_SECRET: jwtSecret,
      COOKIE_SECRETS: cookieSecret,
      AUDIT_HMAC_KEY: auditKey,
      NOT_A_SECRET_VARIABLE: ignoredValue,
    });
    // The harness sets OPENAI_API_KEY for the env provider; empty counts as unset.
    h = await startChatHarness(awsEnv({ OPENAI_API_KEY: '' }), { apiKey: keyA });
  }, 30_000);
  afterAll(async () => {
    await h?.close();
    await sm?.close();
  }, 30_000);

  const chat = async () => {
    const user = await h.newUser();
    return h.client(user.apiKey).chat.completions.create({ model: 'gpt-4o-mini', messages: hello });
  };
  const lastUpstreamKey = () =>
    h.mock.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)?.headers.authorization;

  it('starts with its secrets from AWS (signed GetSecretValue) and chats with key A', async () => {
    expect(h.t.config.generatedSecrets).toEqual([]);
    expect(h.t.config.secrets.provided.names().sort()).toEqual([
      'AUDIT_HMAC_KEY',
      'COOKIE_SECRETS',
      'JWT_SECRET',
      'OPENAI_API_KEY',
    ]);
    expect(sm.requests[0]).toMatchObject({
      target: 'secretsmanager.GetSecretValue',
      secretId: SECRET_ID,
    });
    expect(sm.requests[0].authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=test\//);
    const completion = await chat();
    expect(completion.choices[0].message.content).toBe('Mock reply to: hello');
    expect(lastUpstreamKey()).toBe(`Bearer ${keyA}`);
    expect(h.t.logs.join('\n')).toContain(
      'the AWS secret has a key that is not a secret variable, ignored: NOT_A_SECRET_VARIABLE',
    );
  });

  it('uses a rotated OpenAI key without restart and audits secrets.reloaded by name', async () => {
    sm.setSecret(SECRET_ID, {
      OPENAI_API_KEY: keyB,
      JWT_SECRET: jwtSecretRotated,
      COOKIE_SECRETS: cookieSecret,
      AUDIT_HMAC_KEY: auditKey,
    });
    h.mock.setApiKey(keyB);
    const changed = await h.t.app.get(SecretsRefreshService).refreshNow();
    expect([...changed].sort()).toEqual(['JWT_SECRET', 'OPENAI_API_KEY']);

    await chat();
    expect(lastUpstreamKey()).toBe(`Bearer ${keyB}`);

    const [entry] = await h.t.app.get(AuditService).list({ limit: 1, event: 'secrets.reloaded' });
    expect(entry.details).toEqual({
      changed: ['JWT_SECRET', 'OPENAI_API_KEY'],
      applied: ['OPENAI_API_KEY'],
      restartRequired: ['JWT_SECRET'],
    });
    expect(h.t.logs.join('\n')).toContain('JWT_SECRET changed; restart to apply');
    // An unchanged secret is not a reload: no audit row, nothing changed.
    expect((await h.t.app.get(SecretsRefreshService).refreshNow()).size).toBe(0);
  });

  it('re-fetches on an upstream 401 (key rotated and the old one revoked before the timer)', async () => {
    sm.setSecret(SECRET_ID, {
      OPENAI_API_KEY: keyC,
      JWT_SECRET: jwtSecretRotated,
      COOKIE_SECRETS: cookieSecret,
      AUDIT_HMAC_KEY: auditKey,
    });
    h.mock.setApiKey(keyC);
    // On-demand refreshes are throttled to one per 10 s; step past the window.
    const realNow = Date.now.bind(Date);
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 11_000);
    try {
      await chat();
    } finally {
      clock.mockRestore();
    }
    const [refused, retried] = h.mock.requests
      .filter((r) => r.path === '/v1/chat/completions')
      .slice(-2)
      .map((r) => r.headers.authorization);
    expect([refused, retried]).toEqual([`Bearer ${keyB}`, `Bearer ${keyC}`]);
  });

  it('keeps the last good values when a refresh fails, warning once until it recovers', async () => {
    const refresher = h.t.app.get(SecretsRefreshService);
    sm.deleteSecret(SECRET_ID);
    expect((await refresher.refreshNow()).size).toBe(0);
    expect((await refresher.refreshNow()).size).toBe(0);
    await chat();
    expect(lastUpstreamKey()).toBe(`Bearer ${keyC}`);
    const failures = h.t.logs.filter((line) => line.includes('secrets refresh from AWS'));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toContain('ResourceNotFoundException');

    sm.setSecret(SECRET_ID, {
      OPENAI_API_KEY: keyC,
      JWT_SECRET: jwtSecretRotated,
      COOKIE_SECRETS: cookieSecret,
      AUDIT_HMAC_KEY: auditKey,
    });
    await refresher.refreshNow();
    expect(h.t.logs.join('\n')).toContain('secrets refresh from AWS Secrets Manager works again');
  });

  it('never shows a secret value in logs, /docs-json or health', async () => {
    const docs = await request(h.t.server).get('/docs-json');
    const live = await request(h.t.server).get('/health/live');
    const ready = await request(h.t.server).get('/health/ready');
    expect([docs.status, live.status, ready.status]).toEqual([200, 200, 200]);
    const surfaces = [h.t.logs.join('\n'), docs.text, live.text, ready.text];
    for (const value of allSecretValues) {
      for (const surface of surfaces) expect(surface).not.toContain(value);
    }
  });

  it('refuses to start when AWS_SECRET_ID names no secret: one line, no SDK text', async () => {
    const start = createTestApp(awsEnv({ AWS_SECRET_ID: 'keyward/missing' }));
    await expect(start).rejects.toThrow(
      'Configuration error: AWS_SECRET_ID could not be read from AWS Secrets Manager (ResourceNotFoundException, HTTP 400)',
    );
  });

  it('refuses to start when a variable is set in the environment and in the AWS secret', async () => {
    const start = createTestApp(awsEnv({ OPENAI_API_KEY: 'sk-from-env-too' }));
    await expect(start).rejects.toThrow(
      'Configuration error: OPENAI_API_KEY is set both in the environment and in the AWS secret; set only one of them',
    );
  });
});
