import { createHmac, type KeyObject, sign } from 'node:crypto';
import request from 'supertest';
import type { Role } from '../../src/database/schema';
import { UsersService } from '../../src/users/users.service';
import { type TestApp, uniqueName } from './test-app';

export const PASSWORD = 'a-long-Unusual-pass-42';

export interface TestUser {
  id: string;
  username: string;
  password: string;
}

export async function createUser(
  t: TestApp,
  roles: Role[] = ['user'],
  prefix = 'user',
): Promise<TestUser> {
  const username = uniqueName(prefix);
  const user = await t.app.get(UsersService).create({ username, password: PASSWORD, roles });
  return { id: user.id, username, password: PASSWORD };
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: string;
  scope: string;
}

export async function login(t: TestApp, user: TestUser): Promise<Tokens> {
  const res = await request(t.server)
    .post('/api/v1/auth/token')
    .send({ grant_type: 'password', username: user.username, password: user.password })
    .expect(200);
  return res.body as Tokens;
}

export async function createApiKey(
  t: TestApp,
  accessToken: string,
  body: object = { name: 'test' },
): Promise<string> {
  const res = await request(t.server)
    .post('/api/v1/keys')
    .set('Authorization', `Bearer ${accessToken}`)
    .send(body)
    .expect(201);
  return (res.body as { key: string }).key;
}

const b64 = (value: object | string) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Builds a compact JWS by hand, so tests can forge anything a hostile client could. */
export function forgeJwt(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signer:
    | { kind: 'es256' | 'rs256'; key: KeyObject }
    | { kind: 'hs256'; secret: Buffer }
    | { kind: 'none' },
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  let signature = '';
  switch (signer.kind) {
    case 'es256':
      signature = sign('sha256', Buffer.from(input), {
        key: signer.key,
        dsaEncoding: 'ieee-p1363',
      }).toString('base64url');
      break;
    case 'rs256':
      signature = sign('sha256', Buffer.from(input), signer.key).toString('base64url');
      break;
    case 'hs256':
      signature = createHmac('sha256', signer.secret).update(input).digest('base64url');
      break;
    case 'none':
      break;
  }
  return `${input}.${signature}`;
}

/** The JSON of a compact JWS part, unverified: 0 the header, 1 the claims. */
export function jwtPart(token: string, part: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[part], 'base64url').toString()) as Record<
    string,
    unknown
  >;
}
