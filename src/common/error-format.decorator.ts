import { FASTIFY_ROUTE_CONFIG_METADATA } from '@nestjs/platform-fastify/constants';
import type { ErrorFormatName } from './error-formats';

/** Fastify route config that ErrorResponder reads (`request.routeOptions.config`). */
export interface ErrorFormatRouteConfig {
  readonly errorFormat?: ErrorFormatName;
}

/**
 * The controller (or handler) declares the wire format of its errors; routes that declare
 * none answer in problem+json. It is merged into each handler's Fastify route config, so it
 * sits beside `@RouteConfig(...)`; put it on the class (class decorators run after the
 * methods' ones, so a handler's own `@RouteConfig` cannot overwrite it).
 */
export function UseErrorFormat(format: ErrorFormatName): ClassDecorator & MethodDecorator {
  const merge = (handler: object) => {
    const config = (Reflect.getMetadata(FASTIFY_ROUTE_CONFIG_METADATA, handler) ?? {}) as object;
    Reflect.defineMetadata(
      FASTIFY_ROUTE_CONFIG_METADATA,
      { ...config, errorFormat: format },
      handler,
    );
  };
  return (target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    if (descriptor) {
      merge(descriptor.value as object);
      return;
    }
    const prototype = (target as { prototype: object }).prototype;
    for (const name of Object.getOwnPropertyNames(prototype)) {
      const handler = Object.getOwnPropertyDescriptor(prototype, name)?.value as unknown;
      if (name !== 'constructor' && typeof handler === 'function') merge(handler);
    }
  };
}
