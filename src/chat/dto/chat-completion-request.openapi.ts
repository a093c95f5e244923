import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { z } from 'zod';
import { chatCompletionRequestSchema } from './chat-completion-request.schema';

/**
 * The request body in OpenAPI, generated from the same schema that validates it, so the
 * document cannot drift from what the route accepts.
 */
export const chatCompletionRequestOpenApi = (() => {
  const schema = z.toJSONSchema(chatCompletionRequestSchema, {
    target: 'openapi-3.0',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  delete schema.$schema; // a JSON Schema dialect marker, not an OpenAPI keyword
  return {
    ...schema,
    example: {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello' }],
    },
  } as SchemaObject;
})();
