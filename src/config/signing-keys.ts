import {
  createHash,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';

export type JwtAlgorithm = 'ES256' | 'RS256' | 'HS256';

/** One verification key, parsed once at start (never re-parsed per request). */
export interface VerificationKey {
  readonly kid: string;
  readonly key: KeyObject;
  /** Public JWK for `/.well-known/jwks.json`; absent for shared secrets. */
  readonly publicJwk?: Readonly<JsonWebKey>;
}

export interface SigningKeySet {
  readonly algorithm: JwtAlgorithm;
  /** The first configured key: it signs every new token. */
  readonly signing: { readonly kid: string; readonly key: KeyObject };
  /** Every configured key, the signing one included: any of them verifies (rotation). */
  readonly verification: ReadonlyMap<string, VerificationKey>;
}

const MIN_SECRET_BYTES = 32;

/**
 * RFC 7638 JWK thumbprint. jose's `calculateJwkThumbprint` is async; key sets are parsed
 * synchronously during configuration, so the few lines of the RFC are written here.
 */
export function jwkThumbprint(jwk: JsonWebKey): string {
  let members: Record<string, unknown>;
  switch (jwk.kty) {
    case 'EC':
      members = { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
      break;
    case 'RSA':
      members = { e: jwk.e, kty: jwk.kty, n: jwk.n };
      break;
    case 'oct':
      members = { k: jwk.k, kty: jwk.kty };
      break;
    default:
      throw new Error(`unsupported key type ${String(jwk.kty)}`);
  }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function expectedKeyType(algorithm: JwtAlgorithm): 'ec' | 'rsa' {
  return algorithm === 'ES256' ? 'ec' : 'rsa';
}

function asymmetricEntry(
  algorithm: JwtAlgorithm,
  privateKey: KeyObject,
  namedKid: string | undefined,
): { kid: string; privateKey: KeyObject; verification: VerificationKey } {
  if (privateKey.asymmetricKeyType !== expectedKeyType(algorithm)) {
    throw new Error(`holds a ${privateKey.asymmetricKeyType} key, which cannot sign ${algorithm}`);
  }
  if (algorithm === 'ES256' && privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('holds an EC key that is not on P-256, which ES256 requires');
  }
  if (algorithm === 'RS256' && (privateKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    throw new Error('holds an RSA key shorter than 2048 bits');
  }
  const publicKey = createPublicKey(privateKey);
  const jwk = publicKey.export({ format: 'jwk' });
  const kid = namedKid ?? jwkThumbprint(jwk);
  return {
    kid,
    privateKey,
    verification: {
      kid,
      key: publicKey,
      publicJwk: { ...jwk, kid, alg: algorithm, use: 'sig' },
    },
  };
}

/**
 * Parses `JWT_SIGNING_KEYS`: one or more PKCS#8 PEM blocks, or a JWK set with private
 * keys. Throws with a message that never includes key material.
 */
export function parseAsymmetricKeys(algorithm: JwtAlgorithm, value: string): SigningKeySet {
  const trimmed = value.trim();
  const entries: ReturnType<typeof asymmetricEntry>[] = [];
  if (trimmed.startsWith('{')) {
    let set: { keys?: unknown };
    try {
      set = JSON.parse(trimmed) as { keys?: unknown };
    } catch {
      throw new Error('is neither PEM nor valid JSON');
    }
    if (!Array.isArray(set.keys) || set.keys.length === 0) {
      throw new Error('is a JSON value without a non-empty "keys" array');
    }
    for (const jwk of set.keys as JsonWebKey[]) {
      let key: KeyObject;
      try {
        key = createPrivateKey({ key: jwk, format: 'jwk' });
      } catch {
        throw new Error('holds a JWK that is not a private key');
      }
      entries.push(
        asymmetricEntry(algorithm, key, typeof jwk.kid === 'string' ? jwk.kid : undefined),
      );
    }
  } else {
    const blocks = trimmed.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g);
    if (!blocks) throw new Error('holds no PEM block');
    for (const block of blocks) {
      let key: KeyObject;
      try {
        key = createPrivateKey(block);
      } catch {
        throw new Error('holds a PEM block that is not a private key');
      }
      entries.push(asymmetricEntry(algorithm, key, undefined));
    }
  }
  const verification = new Map<string, VerificationKey>();
  for (const entry of entries) {
    if (verification.has(entry.kid)) throw new Error(`holds two keys with kid ${entry.kid}`);
    verification.set(entry.kid, entry.verification);
  }
  return {
    algorithm,
    signing: { kid: entries[0].kid, key: entries[0].privateKey },
    verification,
  };
}

/** Parses `JWT_SECRET`: a comma list of shared secrets, each at least 32 bytes. */
export function parseSharedSecrets(value: string): SigningKeySet {
  const secrets = splitSecrets(value);
  if (secrets.length === 0) throw new Error('is empty');
  const verification = new Map<string, VerificationKey>();
  for (const secret of secrets) {
    if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
      throw new Error(`must be at least ${MIN_SECRET_BYTES} bytes per secret`);
    }
    const key = createSecretKey(Buffer.from(secret));
    const kid = jwkThumbprint(key.export({ format: 'jwk' }));
    verification.set(kid, { kid, key });
  }
  const first = verification.values().next().value as VerificationKey;
  return { algorithm: 'HS256', signing: { kid: first.kid, key: first.key }, verification };
}

/** Splits a comma list of secrets (`COOKIE_SECRETS`, `JWT_SECRET`), dropping blanks. */
export function splitSecrets(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}
