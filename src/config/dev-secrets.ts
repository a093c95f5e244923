import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Outside production, missing signing keys, cookie secrets and the audit HMAC key are generated once into
 * `DATA_DIR/keys` (directory 0700, files 0600) and reused on later starts, so sessions
 * survive a restart of a development server. Production never gets here: it fails fast.
 */
export function ensureDevelopmentSecrets(
  env: Record<string, string | undefined>,
  dataDir: string,
): { generated: string[] } {
  const generated: string[] = [];
  const keysDir = join(dataDir, 'keys');
  const readOrCreate = (file: string, create: () => string): string => {
    const path = join(keysDir, file);
    if (existsSync(path)) return readFileSync(path, 'utf8');
    mkdirSync(keysDir, { recursive: true, mode: 0o700 });
    chmodSync(keysDir, 0o700);
    const value = create();
    writeFileSync(path, value, { mode: 0o600, flag: 'wx' });
    generated.push(path);
    return value;
  };

  const algorithm = env.JWT_ALGORITHM ?? 'ES256';
  if (algorithm === 'HS256') {
    if (!env.JWT_SECRET) {
      env.JWT_SECRET = readOrCreate('jwt-secret', () => randomBytes(32).toString('base64url'));
    }
  } else if (!env.JWT_SIGNING_KEYS && (algorithm === 'ES256' || algorithm === 'RS256')) {
    env.JWT_SIGNING_KEYS = readOrCreate(`jwt-${algorithm.toLowerCase()}.pem`, () => {
      const { privateKey } =
        algorithm === 'ES256'
          ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
      return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    });
  }
  if (!env.COOKIE_SECRETS) {
    env.COOKIE_SECRETS = readOrCreate('cookie-secrets', () =>
      randomBytes(32).toString('base64url'),
    );
  }
  if (!env.AUDIT_HMAC_KEY) {
    env.AUDIT_HMAC_KEY = readOrCreate('audit-hmac-key', () =>
      randomBytes(32).toString('base64url'),
    );
  }
  return { generated };
}
