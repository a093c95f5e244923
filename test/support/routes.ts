import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import { SCOPES_KEY } from '../../src/auth/auth.decorators';
import { CHAT_COMPLETIONS_ROUTE } from '../../src/chat/chat-completions.route';
import type { Scope } from '../../src/auth/principal';
import { IS_PUBLIC_KEY } from '../../src/auth/public.decorator';
import type { TestApp } from './test-app';

export interface Route {
  readonly method: string;
  readonly path: string;
  readonly isPublic: boolean;
  /** The scopes the route states (`[]`: any credential); undefined if it states none. */
  readonly scopes?: readonly Scope[];
}

function joinPath(...parts: (string | undefined)[]): string {
  const path = parts
    .filter((part): part is string => Boolean(part) && part !== '/')
    .map((part) => part.replace(/^\/|\/$/g, ''))
    .join('/');
  return `/${path}`;
}

/**
 * Every controller route, read from Nest's own metadata (what the router registers), so a
 * suite that walks "every route" also walks the ones added after it was written; then the
 * route registered on Fastify outside Nest's router, with its policy object.
 */
export function listRoutes(t: TestApp): Route[] {
  const routes: Route[] = [];
  for (const module of t.app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => object) | null;
      if (!controller) continue;
      const prefix = Reflect.getMetadata(PATH_METADATA, controller) as string | undefined;
      const classPublic = Boolean(Reflect.getMetadata(IS_PUBLIC_KEY, controller));
      const classScopes = Reflect.getMetadata(SCOPES_KEY, controller) as Scope[] | undefined;
      const proto = controller.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const handler = proto[name];
        if (typeof handler !== 'function' || name === 'constructor') continue;
        const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (path === undefined || method === undefined) continue;
        routes.push({
          method: RequestMethod[method],
          path: joinPath(prefix, path),
          isPublic: classPublic || Boolean(Reflect.getMetadata(IS_PUBLIC_KEY, handler)),
          scopes: (Reflect.getMetadata(SCOPES_KEY, handler) as Scope[] | undefined) ?? classScopes,
        });
      }
    }
  }
  const { method, url, policy } = CHAT_COMPLETIONS_ROUTE;
  routes.push({ method, path: url, isPublic: policy.isPublic, scopes: policy.scopes });
  return routes;
}
