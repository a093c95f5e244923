import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeConfig } from '../../test/support/fakes/fake-config';
import { ProvidedSecrets } from '../config/provider-secrets';
import { SecretsService } from './secrets.service';

describe(SecretsService.name, () => {
  let dir: string;
  let keyFile: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-secrets-'));
    keyFile = join(dir, 'openai-key');
    writeFileSync(keyFile, 'sk-first\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const service = (provided: Record<string, string> = {}) =>
    new SecretsService(
      fakeConfig({
        secrets: {
          files: { OPENAI_API_KEY: keyFile },
          fromFiles: new ProvidedSecrets({ OPENAI_API_KEY: 'sk-first' }),
          provided: new ProvidedSecrets(provided),
        },
      }),
    );

  it('starts from what start-up resolved, files and provider alike', () => {
    const secrets = service({ REDIS_URL: 'redis://aws' });
    expect(secrets.get('OPENAI_API_KEY')).toBe('sk-first');
    expect(secrets.get('REDIS_URL')).toBe('redis://aws');
  });

  it('re-reads a rotated secret file on refresh and tells the subscribers', async () => {
    const secrets = service();
    const seen: string[] = [];
    secrets.onChange(['OPENAI_API_KEY'], () => seen.push(secrets.get('OPENAI_API_KEY')!));
    expect([...(await secrets.refresh())]).toEqual([]);
    writeFileSync(keyFile, 'sk-second\n');
    expect([...(await secrets.refresh())]).toEqual(['OPENAI_API_KEY']);
    expect(seen).toEqual(['sk-second']);
  });

  it('keeps the last value when the file is empty or gone (a rotation caught half-way)', async () => {
    const secrets = service();
    writeFileSync(keyFile, '');
    expect((await secrets.refresh()).size).toBe(0);
    rmSync(keyFile);
    expect((await secrets.refresh()).size).toBe(0);
    expect(secrets.get('OPENAI_API_KEY')).toBe('sk-first');
  });

  it('asks the provider after the files and reports both kinds of change', async () => {
    const secrets = service({ REDIS_URL: 'redis://aws' });
    const provider = jest.fn(() => Promise.resolve(secrets.update({ REDIS_URL: 'redis://new' })));
    secrets.setRefresher(provider);
    writeFileSync(keyFile, 'sk-second');
    expect([...(await secrets.refresh())].sort()).toEqual(['OPENAI_API_KEY', 'REDIS_URL']);
    expect(provider).toHaveBeenCalledTimes(1);
  });
});
