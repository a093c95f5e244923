import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MockOpenAI, startMockOpenAI } from '../tools/mock-openai/mock-openai';
import { PASSWORD } from './support/auth-helpers';
import { templateDir } from './support/pglite-template';
import { ensureAdmin } from './support/process-admin';
import { type ProcessApp, startProcessApp } from './support/process-app';

/** docs/reference.md "Scale": SIGTERM drains in-flight requests and streams, then exits 0. */
describe('Graceful shutdown (a real process and a real SIGTERM)', () => {
  let mock: MockOpenAI;
  let app: ProcessApp;
  let dataDir: string;

  beforeAll(async () => {
    mock = await startMockOpenAI({ streamChunkDelayMs: 150 });
    dataDir = mkdtempSync(join(tmpdir(), 'keyward-shutdown-'));
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      OPENAI_API_KEY: 'sk-mock-keyward',
      OPENAI_BASE_URL: mock.url,
      BOOTSTRAP_ADMIN_USERNAME: 'shutdown_admin',
      BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
      SHUTDOWN_TIMEOUT_MS: '20000',
    };
    if (process.env.DATABASE_URL) {
      env.DATABASE_URL = process.env.DATABASE_URL;
      env.BOOTSTRAP_ADMIN_USERNAME = `shutdown_admin_${Date.now()}`;
    } else {
      cpSync(join(templateDir(), 'pgdata'), join(dataDir, 'pgdata'), { recursive: true });
    }
    await ensureAdmin(env.BOOTSTRAP_ADMIN_USERNAME, PASSWORD, env);
    app = await startProcessApp(env);
    const token = (await (
      await fetch(`${app.url}/api/v1/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          grant_type: 'password',
          username: env.BOOTSTRAP_ADMIN_USERNAME,
          password: PASSWORD,
        }),
      })
    ).json()) as { access_token: string };
    (app as ProcessApp & { token?: string }).token = token.access_token;
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    await mock?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('finishes an active stream, refuses new work, and exits 0', async () => {
    const token = (app as ProcessApp & { token?: string }).token!;
    const response = await fetch(`${app.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        stream: true,
        messages: [
          {
            role: 'user',
            content: 'one two three four five six seven eight nine ten eleven twelve',
          },
        ],
      }),
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);

    app.child.kill('SIGTERM');
    // New connections are refused once the server stops listening.
    let refused = false;
    for (let i = 0; i < 50 && !refused; i += 1) {
      try {
        const res = await fetch(`${app.url}/health/live`);
        refused = res.status === 503;
      } catch {
        refused = true;
      }
      if (!refused) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(refused).toBe(true);

    // The stream was still running at SIGTERM: no end marker yet, and data events kept
    // arriving after the signal (the drain let it finish rather than cutting it).
    let text = new TextDecoder().decode(first.value);
    expect(text).not.toContain('[DONE]');
    let eventsAfterSignal = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const part = new TextDecoder().decode(value);
      eventsAfterSignal += part.split('data: ').length - 1;
      text += part;
    }
    expect(eventsAfterSignal).toBeGreaterThanOrEqual(3);
    expect(text).toContain('Mock reply to:');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(app.output.join('')).toContain('shutdown complete');
  }, 60_000);
});
