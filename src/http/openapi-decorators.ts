/**
 * @nestjs/swagger's decorators, without the rest of the package: every controller and DTO
 * imports them from here. The package's index also loads the document builder, its explorers
 * and schema factories, js-yaml and the mapped types (~1.1 MiB of heap in a bare process),
 * which only the OpenAPI document needs: src/http/openapi.ts imports the index, and
 * src/http-app.ts loads that file only when SWAGGER_ENABLED (docs/runtime.md "Memory and
 * start of the server process"). ESLint refuses other imports of the package's values.
 *
 * The package's `exports` map offers no entry for its decorators, so the file is found from
 * the index's resolved path: `dist/decorators/index.js` is the file the index itself
 * re-exports, so both are one module instance (one set of metadata keys), and a release that
 * moves it makes every start and every test fail at once, never a silently missing
 * document. A decorator not listed here is added here.
 */
import { dirname, join } from 'node:path';

type Swagger = typeof import('@nestjs/swagger');

// eslint-disable-next-line @typescript-eslint/no-require-imports -- a resolved file path (above)
const decorators = require(
  join(dirname(require.resolve('@nestjs/swagger')), 'decorators/index.js'),
) as Swagger;

export const {
  ApiBadRequestResponse,
  ApiBasicAuth,
  ApiBody,
  ApiConsumes,
  ApiCookieAuth,
  ApiCreatedResponse,
  ApiExtension,
  ApiForbiddenResponse,
  ApiFoundResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiProperty,
  ApiPropertyOptional,
  ApiQuery,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
  ApiUnprocessableEntityResponse,
} = decorators;
