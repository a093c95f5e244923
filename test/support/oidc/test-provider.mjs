// A real OpenID Provider for the single-sign-on suites: oidc-provider (OpenID certified) over
// https with a CA made here, run as its own Node process (it is ESM with many dependencies,
// which Jest's module loader cannot load). Prints one JSON line: {issuer, caPem, certPem}.
//
// Test controls (plain JSON over the same https server, for the suites only):
//   POST /__test/setup   {redirectUris, postLogoutRedirectUris, clientSecret}  creates the OP
//   POST /__test/users   {id: {preferred_username, email, name, groups}}       replaces users
//   POST /__test/tamper  {mode: issuer|audience|expired|alg-none}  rewrites the next ID token
// The login page asks only for an account id (no password): the suites test Keyward, not the OP.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:https';
import { SignJWT, exportJWK, generateKeyPair, decodeJwt } from 'jose';
import Provider from 'oidc-provider';
import selfsigned from 'selfsigned';

export const CLIENT_ID = 'keyward-test';

// A name of its own per run: a test process that trusted an earlier run's CA must not pick
// that one (same name, other key) to check this run's certificate.
const caKeys = await selfsigned.generate(
  [{ name: 'commonName', value: `Keyward test CA ${randomUUID()}` }],
  {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  },
);
const leaf = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
  keySize: 2048,
  algorithm: 'sha256',
  ca: { key: caKeys.private, cert: caKeys.cert },
  extensions: [
    { name: 'basicConstraints', cA: false },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
      ],
    },
  ],
});

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await exportJWK(privateKey)), kid: 'op-key-1', alg: 'RS256', use: 'sig' };

let users = {};
let tamper;
let provider;
let issuer;

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><h1>${escape(title)}</h1>${body}</body></html>`;
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString() || '{}');
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

async function rewrite(idToken, mode) {
  const claims = decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  if (mode === 'alg-none') {
    const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
  }
  if (mode === 'issuer') claims.iss = 'https://evil.example';
  if (mode === 'audience') claims.aud = 'another-client';
  if (mode === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'op-key-1' }).sign(privateKey);
}

function createProvider({ redirectUris, postLogoutRedirectUris, clientSecret }) {
  const op = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        post_logout_redirect_uris: postLogoutRedirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [signingJwk] },
    cookies: { keys: ['test-op-cookie-key-0123456789abcdef'] },
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      email: ['email'],
      groups: ['groups'],
    },
    scopes: ['openid', 'profile', 'email', 'groups'],
    // The scope claims go into the ID token itself (as Keycloak, Okta and Entra can be set to do).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource(ctx, form) {
          ctx.body = page(
            'Sign out of the test OP?',
            `${form}<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>`,
          );
        },
      },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const user = users[sub];
      if (!user) return undefined;
      return { accountId: sub, claims: () => ({ sub, ...user }) };
    },
    // Consent is implied: every requested scope is granted at sign-in.
    async loadExistingGrant(ctx) {
      const grantId =
        ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile email groups');
      grant.addOIDCClaims(['preferred_username', 'name', 'email', 'groups']);
      await grant.save();
      return grant;
    },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('OP error', `<pre id="op-error">${escape(JSON.stringify(out))}</pre>`);
    },
  });
  op.use(async (ctx, next) => {
    await next();
    if (
      ctx.path === '/token' &&
      tamper &&
      ctx.body &&
      typeof ctx.body === 'object' &&
      ctx.body.id_token
    ) {
      const mode = tamper;
      tamper = undefined;
      ctx.body = { ...ctx.body, id_token: await rewrite(ctx.body.id_token, mode) };
    }
  });
  return op;
}

async function interaction(req, res, uid) {
  if (req.method === 'GET') {
    const details = await provider.interactionDetails(req, res);
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(
      page(
        'Test OP sign-in',
        `<form method="post" action="/interaction/${escape(details.uid)}"><label>Account <input name="login" id="login"></label><button type="submit" id="op-submit">Sign in</button></form>`,
      ),
    );
    return;
  }
  const form = await readForm(req);
  const accountId = form.get('login') ?? '';
  if (!users[accountId]) {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'unknown account',
    });
    return;
  }
  void uid;
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId } },
    { mergeWithLastSubmission: false },
  );
}

const server = createServer({ key: leaf.private, cert: `${leaf.cert}` }, (req, res) => {
  const url = new URL(req.url, issuer);
  const handle = async () => {
    if (url.pathname.startsWith('/__test/')) {
      const body = await readJson(req);
      if (url.pathname === '/__test/setup') provider = createProvider(body);
      else if (url.pathname === '/__test/users') users = body;
      else if (url.pathname === '/__test/tamper') tamper = body.mode;
      else {
        res.statusCode = 404;
        return res.end();
      }
      res.setHeader('content-type', 'application/json');
      return res.end('{"ok":true}');
    }
    if (!provider) {
      res.statusCode = 503;
      return res.end('not set up');
    }
    const match = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
    if (match) return interaction(req, res, match[1]);
    return provider.callback()(req, res);
  };
  handle().catch((error) => {
    process.stderr.write(`test OP error: ${error.stack}\n`);
    if (!res.headersSent) res.statusCode = 500;
    res.end();
  });
});

server.listen(0, '127.0.0.1', () => {
  issuer = `https://localhost:${server.address().port}`;
  process.stdout.write(`${JSON.stringify({ issuer, caPem: caKeys.cert, certPem: leaf.cert })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
