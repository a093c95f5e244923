import { RouteConfig } from '@nestjs/platform-fastify';
import { FASTIFY_ROUTE_CONFIG_METADATA } from '@nestjs/platform-fastify/constants';
import { UseErrorFormat } from './error-format.decorator';

const configOf = (handler: unknown) =>
  Reflect.getMetadata(FASTIFY_ROUTE_CONFIG_METADATA, handler as object) as unknown;

describe(UseErrorFormat.name, () => {
  it("declares a controller's format on every handler, keeping each handler's own route config", () => {
    @UseErrorFormat('oauth2')
    class Controller {
      @RouteConfig({ acceptsForm: true })
      token(): void {}

      revoke(): void {}
    }
    expect(configOf(Controller.prototype.token)).toEqual({
      acceptsForm: true,
      errorFormat: 'oauth2',
    });
    expect(configOf(Controller.prototype.revoke)).toEqual({ errorFormat: 'oauth2' });
  });

  it('declares one handler alone when put on a method', () => {
    class Controller {
      @UseErrorFormat('openai')
      @RouteConfig({ serverTiming: true })
      chat(): void {}

      other(): void {}
    }
    expect(configOf(Controller.prototype.chat)).toEqual({
      serverTiming: true,
      errorFormat: 'openai',
    });
    expect(configOf(Controller.prototype.other)).toBeUndefined();
  });
});
