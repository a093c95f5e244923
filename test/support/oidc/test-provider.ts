import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';

export const TEST_CLIENT_ID = 'keyward-test';
export const TEST_CLIENT_SECRET = 'test-client-secret-0123456789abcdef';

export interface OpUser {
  preferred_username?: string;
  email?: string;
  name?: string;
  groups?: string[];
  /** OpenID Connect distributed claims (Entra's "groups overage": `{ groups: 'src1' }`). */
  _claim_names?: Record<string, string>;
  _claim_sources?: Record<string, { endpoint: string }>;
}

/** The test OpenID Provider (test-provider.mjs) in its own process, over https. */
export class TestProvider {
  private constructor(
    private readonly child: ChildProcess,
    readonly issuer: string,
    readonly caPem: string,
    private readonly certPem: string,
  ) {}

  /**
   * Chromium flag that trusts exactly the OP's certificate (by its key), so the browser keeps
   * checking every other certificate.
   */
  get chromiumTrustArg(): string {
    const spki = new X509Certificate(this.certPem).publicKey.export({
      type: 'spki',
      format: 'der',
    });
    return `--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`;
  }

  /**
   * Starts the OP and makes this process trust its CA, as NODE_EXTRA_CA_CERTS would for a
   * deployed Keyward: TLS checks stay on.
   */
  static async start(): Promise<TestProvider> {
    const child = spawn(process.execPath, [join(__dirname, 'test-provider.mjs')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`test OP exited (${code})`)));
    });
    const { issuer, caPem, certPem } = JSON.parse(line) as Record<string, string>;
    setDefaultCACertificates([...getCACertificates('default'), caPem]);
    return new TestProvider(child, issuer, caPem, certPem);
  }

  async setup(keywardUrl: string): Promise<void> {
    await this.control('setup', {
      redirectUris: [`${keywardUrl}/api/v1/auth/oidc/callback`],
      postLogoutRedirectUris: [`${keywardUrl}/`],
      clientSecret: TEST_CLIENT_SECRET,
    });
  }

  setUsers(users: Record<string, OpUser>): Promise<void> {
    return this.control('users', users);
  }

  /** The next ID token the OP issues is rewritten this way. */
  tamperNext(mode: 'issuer' | 'audience' | 'expired' | 'alg-none'): Promise<void> {
    return this.control('tamper', { mode });
  }

  /** Keyward's settings for this OP. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      OIDC_ISSUER: this.issuer,
      OIDC_CLIENT_ID: TEST_CLIENT_ID,
      OIDC_CLIENT_SECRET: TEST_CLIENT_SECRET,
      OIDC_SCOPES: 'openid profile email groups',
      OIDC_DISPLAY_NAME: 'Test OP',
      OIDC_ROLE_MAP: JSON.stringify({
        'kw-admins': 'admin',
        'kw-users': 'user',
        ops: 'team:ops:member',
      }),
      COOKIE_SECURE: 'false',
      ...extra,
    };
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }

  private async control(what: string, body: unknown): Promise<void> {
    const response = await fetch(`${this.issuer}/__test/${what}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`test OP ${what}: ${response.status}`);
  }
}

/** Cookies by name (one host each: Keyward on http, the OP on https, kept apart). */
export class CookieJar {
  private readonly cookies = new Map<string, Map<string, string>>();

  store(url: string, response: Response): void {
    const host = new URL(url).host;
    const jar = this.cookies.get(host) ?? new Map<string, string>();
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (expired) jar.delete(name);
      else jar.set(name, value);
    }
    this.cookies.set(host, jar);
  }

  header(url: string): string {
    const jar = this.cookies.get(new URL(url).host);
    return jar ? [...jar].map(([name, value]) => `${name}=${value}`).join('; ') : '';
  }

  get(url: string, name: string): string | undefined {
    return this.cookies.get(new URL(url).host)?.get(name);
  }

  set(url: string, name: string, value: string): void {
    const host = new URL(url).host;
    const jar = this.cookies.get(host) ?? new Map<string, string>();
    jar.set(name, value);
    this.cookies.set(host, jar);
  }
}

/** One request without following redirects, through the jar. */
export async function step(
  jar: CookieJar,
  url: string,
  init: RequestInit = {},
): Promise<{ response: Response; location?: string }> {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie) headers.set('cookie', cookie);
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(url, response);
  const location = response.headers.get('location') ?? undefined;
  return { response, location: location ? new URL(location, url).toString() : undefined };
}

/**
 * Follows redirects from `url` until one leaves for Keyward's callback (returned, not
 * followed), signing in at the OP's form as `account` on the way.
 */
export async function walkToCallback(
  jar: CookieJar,
  url: string,
  account: string,
  keywardUrl: string,
): Promise<string> {
  let next = url;
  for (let hops = 0; hops < 12; hops += 1) {
    if (next.startsWith(`${keywardUrl}/api/v1/auth/oidc/callback`)) return next;
    const interaction = /\/interaction\/[A-Za-z0-9_-]+$/.test(new URL(next).pathname);
    const { response, location } = interaction
      ? await step(jar, next, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ login: account }).toString(),
        })
      : await step(jar, next);
    if (!location) throw new Error(`no redirect from ${next}: ${response.status}`);
    next = location;
  }
  throw new Error('too many redirects');
}
