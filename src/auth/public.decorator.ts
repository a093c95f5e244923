import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '../http/openapi-decorators';

export const IS_PUBLIC_KEY = 'keyward:isPublic';

/** Marks public operations in the OpenAPI document; `http/openapi.ts` turns it into `security: []`. */
export const OPENAPI_PUBLIC_EXTENSION = 'x-keyward-public';

/** The only way out of the global authentication guard (deny by default). */
export const Public = () =>
  applyDecorators(SetMetadata(IS_PUBLIC_KEY, true), ApiExtension(OPENAPI_PUBLIC_EXTENSION, true));
