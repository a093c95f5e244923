import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type * as OpenidClient from 'openid-client';
import { DomainError } from '../common/domain-error';
import type { KeywardConfig } from '../config/configuration';
import type { EnabledOidcConfig, OidcConfig } from '../config/oidc.config';

/** What a sign-in keeps between the redirect to the IdP and the callback (encrypted cookie). */
export interface SignInTransaction {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly redirectUrl: string;
  readonly returnTo: string;
}

/** The validated outcome of a callback. */
export interface VerifiedSignIn {
  readonly claims: Record<string, unknown> & { iss: string; sub: string };
  readonly idToken: string;
}

/** Retry discovery at most this often after a failure, so a down IdP is not hammered. */
const DISCOVERY_RETRY_MS = 10_000;

let loaded: Promise<typeof OpenidClient> | undefined;
/**
 * `openid-client` (and its `oauth4webapi`), loaded on the first sign-in: a server without
 * single sign-on never holds them (docs/runtime.md, memory).
 */
function openidClient(): Promise<typeof OpenidClient> {
  loaded ??= import('openid-client');
  return loaded;
}

/**
 * The thin wrapper around `openid-client` (OpenID certified relying party): discovery,
 * the authorization URL with PKCE (S256), `state` and `nonce`, the code exchange with ID
 * token validation (signature by the IdP's JWKS, `iss`, `aud`, `exp`, `nonce`, no `alg:
 * none`), and the end-session URL. Discovery happens on first use, not at start, so
 * Keyward starts while the IdP is down. TLS is Node's: an IdP on a private CA needs
 * NODE_EXTRA_CA_CERTS.
 */
@Injectable()
export class OidcClientService {
  private readonly logger = new Logger(OidcClientService.name);
  private readonly settings: OidcConfig;
  private discovered?: Promise<OpenidClient.Configuration>;
  private failedAt = 0;

  constructor(config: ConfigService<KeywardConfig, true>) {
    this.settings = config.get('oidc', { infer: true });
  }

  get enabled(): boolean {
    return this.settings.enabled;
  }

  get displayName(): string {
    return this.settings.displayName;
  }

  /** The settings of an enabled IdP; `not_found` when single sign-on is off. */
  get oidc(): EnabledOidcConfig {
    if (!this.settings.enabled) {
      throw new DomainError('not_found', 'Single sign-on is not configured.');
    }
    return this.settings;
  }

  /** A new transaction and the IdP URL to send the browser to. */
  async startSignIn(
    redirectUrl: string,
    returnTo: string,
  ): Promise<{ url: URL; transaction: SignInTransaction }> {
    const configuration = await this.configuration();
    const client = await openidClient();
    const transaction: SignInTransaction = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      codeVerifier: client.randomPKCECodeVerifier(),
      redirectUrl,
      returnTo,
    };
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: redirectUrl,
      scope: this.oidc.scopes.join(' '),
      state: transaction.state,
      nonce: transaction.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(transaction.codeVerifier),
      code_challenge_method: 'S256',
    });
    return { url, transaction };
  }

  /**
   * Validates the authorization response (`state`, `iss`), redeems the code with the PKCE
   * verifier and validates the ID token (`nonce` included). Throws on any failure.
   */
  async finishSignIn(query: string, transaction: SignInTransaction): Promise<VerifiedSignIn> {
    const configuration = await this.configuration();
    const client = await openidClient();
    const currentUrl = new URL(transaction.redirectUrl);
    currentUrl.search = query;
    const tokens = await client.authorizationCodeGrant(configuration, currentUrl, {
      pkceCodeVerifier: transaction.codeVerifier,
      expectedState: transaction.state,
      expectedNonce: transaction.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    if (!claims || !tokens.id_token) throw new Error('the token response has no ID token');
    return {
      claims: claims,
      idToken: tokens.id_token,
    };
  }

  /** Whether the IdP advertises RP-initiated logout (`end_session_endpoint`). */
  async supportsEndSession(): Promise<boolean> {
    const configuration = await this.configuration().catch(() => undefined);
    return Boolean(configuration?.serverMetadata().end_session_endpoint);
  }

  /**
   * RP-initiated logout: the IdP's `end_session_endpoint` with the session's ID token as
   * hint, or undefined when the IdP advertises none (or cannot be reached).
   */
  async endSessionUrl(idToken: string, postLogoutRedirectUrl: string): Promise<string | undefined> {
    const configuration = await this.configuration().catch(() => undefined);
    if (!configuration?.serverMetadata().end_session_endpoint) return undefined;
    const client = await openidClient();
    return client
      .buildEndSessionUrl(configuration, {
        id_token_hint: idToken,
        post_logout_redirect_uri: postLogoutRedirectUrl,
      })
      .toString();
  }

  private configuration(): Promise<OpenidClient.Configuration> {
    const settings = this.oidc;
    if (!this.discovered && Date.now() - this.failedAt < DISCOVERY_RETRY_MS) {
      return Promise.reject(
        new DomainError('service_unavailable', 'The identity provider cannot be reached.'),
      );
    }
    this.discovered ??= openidClient()
      .then((client) =>
        client.discovery(
          new URL(settings.issuer),
          settings.clientId,
          undefined,
          clientAuthentication(client, settings),
          { timeout: 10 },
        ),
      )
      .catch((error: unknown) => {
        this.discovered = undefined;
        this.failedAt = Date.now();
        this.logger.warn(`OIDC discovery of ${settings.issuer} failed: ${describe(error)}`);
        throw new DomainError('service_unavailable', 'The identity provider cannot be reached.');
      });
    return this.discovered;
  }
}

function clientAuthentication(
  client: typeof OpenidClient,
  settings: EnabledOidcConfig,
): OpenidClient.ClientAuth {
  switch (settings.tokenAuthMethod) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(settings.clientSecret);
    case 'client_secret_post':
      return client.ClientSecretPost(settings.clientSecret);
    case 'none':
      return client.None();
  }
}

/**
 * An error's name and message, without anything it may carry from a response body
 * (`openid-client`'s `ClientError` is an `Error`).
 */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
  }
  return 'unknown error';
}
