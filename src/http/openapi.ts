import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { TOKEN_PATH } from '../auth/auth-paths';
import { CHAT_COMPLETIONS_OPENAPI, CHAT_COMPLETIONS_ROUTE } from '../chat/chat-completions.route';
import { type AppConfig, publicUrl } from '../config/app.config';
import { OPENAPI_PUBLIC_EXTENSION } from '../auth/public.decorator';
import { cookieName } from '../cookies/cookie-policy';

/**
 * Swagger UI at `/docs` and the OpenAPI document at `/docs-json` (SWAGGER_ENABLED): OAuth2
 * password flow against the token endpoint, bearer (JWT or `kw_` key) and the access cookie
 * under the name the cookie policy gives it.
 */
export function setupOpenApi(
  app: NestFastifyApplication,
  secureCookies: boolean,
  appConfig: Pick<AppConfig, 'publicUrl'>,
): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Keyward')
      .setDescription(
        'OpenAI behind your own authentication. Authenticate with a Bearer JWT (from the token ' +
          'endpoint), a `kw_` API key, or the browser session cookie. With single sign-on ' +
          'configured, open [/api/v1/auth/oidc/login?returnTo=/docs](/api/v1/auth/oidc/login?returnTo=/docs) ' +
          'to sign in through the identity provider; "Try it out" then runs on the session cookie.',
      )
      .setVersion('1')
      .addOAuth2(
        {
          type: 'oauth2',
          // Absolute under PUBLIC_URL, like every URL Keyward advertises.
          flows: { password: { tokenUrl: publicUrl(appConfig, TOKEN_PATH), scopes: {} } },
          description: 'Resource-owner password grant against the token endpoint',
        },
        'oauth2',
      )
      .addBearerAuth(
        { type: 'http', scheme: 'bearer', bearerFormat: 'JWT or kw_ API key' },
        'bearer',
      )
      // Machine clients on the introspection endpoint (not a default requirement).
      .addBasicAuth(
        {
          type: 'http',
          scheme: 'basic',
          description: 'Machine client: client_id and client_secret',
        },
        'client',
      )
      .addCookieAuth(
        cookieName('access', secureCookies),
        { type: 'apiKey', in: 'cookie' },
        'cookie',
      )
      .addSecurityRequirements('oauth2')
      .addSecurityRequirements('bearer')
      .addSecurityRequirements('cookie')
      .build(),
  );
  // Every operation inherits the document-wide security requirements, except the public
  // ones (`@Public()`), which need none of them: `security: []` overrides the default.
  // A public route that names its own credential (the session routes' refresh cookie,
  // `@ApiCookieAuth`) keeps it.
  for (const operations of Object.values(document.paths)) {
    for (const operation of Object.values(operations) as Array<Record<string, unknown>>) {
      if (typeof operation !== 'object' || !(OPENAPI_PUBLIC_EXTENSION in operation)) continue;
      delete operation[OPENAPI_PUBLIC_EXTENSION];
      operation.security ??= [];
    }
  }
  addRoutesOutsideNest(document);
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    swaggerOptions: { persistAuthorization: false, requestInterceptor: sendCsrfToken },
  });
}

/** What Swagger UI hands its `requestInterceptor` (the fields used here). */
interface SwaggerUiRequest {
  method?: string;
  headers: Record<string, string>;
}

/**
 * Swagger UI's `requestInterceptor`: "Try it out" on the session cookie sends the readable CSRF
 * cookie in `X-CSRF-Token` on unsafe calls, as the console does (public/lib.js), unless the
 * operation's own X-CSRF-Token field was filled in. Swagger UI runs it in the browser from its
 * source text (Nest writes it into swagger-ui-init.js), so it uses nothing from this module
 * and names the cookie in both cookie modes itself; `src/http/openapi.spec.ts` holds
 * the names to the cookie policy. docs/reference.md "Cookies".
 */
export function sendCsrfToken(request: SwaggerUiRequest): SwaggerUiRequest {
  const method = (request.method ?? 'GET').toUpperCase();
  const given = Object.keys(request.headers).some((name) => /^x-csrf-token$/i.test(name));
  if (given || method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return request;
  const page = globalThis as unknown as { document?: { cookie: string } };
  for (const pair of (page.document?.cookie ?? '').split('; ')) {
    const [name, ...value] = pair.split('=');
    if (name === '__Host-kw_csrf' || name === 'kw_csrf') {
      request.headers['X-CSRF-Token'] = decodeURIComponent(value.join('='));
      break;
    }
  }
  return request;
}

/**
 * `POST /v1/chat/completions` is a Fastify route outside Nest's router, so Nest's scanner does
 * not see it: its operation, written beside the route, goes in by hand, after `/v1/models/{id}`
 * where the controller listed it (docs/runtime.md "Request pipeline"). It states no security,
 * so it inherits the document's requirements like every guarded route.
 */
function addRoutesOutsideNest(document: OpenAPIObject): void {
  const entry: [string, OpenAPIObject['paths'][string]] = [
    CHAT_COMPLETIONS_ROUTE.url,
    { [CHAT_COMPLETIONS_ROUTE.method.toLowerCase()]: CHAT_COMPLETIONS_OPENAPI },
  ];
  const entries = Object.entries(document.paths);
  const after = entries.findIndex(([path]) => path === '/v1/models/{id}');
  entries.splice(after < 0 ? entries.length : after + 1, 0, entry);
  document.paths = Object.fromEntries(entries);
}
