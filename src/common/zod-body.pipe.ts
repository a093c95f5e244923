import { Injectable, type PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { DomainError } from './domain-error';
import { assertSafeKeys, isPlainObject } from './strict-validation.pipe';

/** `input[2].content` from zod's path `['input', 2, 'content']` (OpenAI's `param` style). */
function paramOf(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) =>
      typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`,
    )
    .join('');
}

/** A 400 naming the field at fault, as OpenAI's `param` and as a field error. */
export function invalidParam(detail: string, param: string): DomainError {
  return new DomainError('validation_failed', detail, {
    param,
    errors: [{ field: param, message: detail }],
  });
}

/**
 * Validates a body against a zod schema: for OpenAI request shapes that are unions of many
 * item types (Responses `input`, embeddings `input`), which class-validator DTOs describe
 * badly. Same rules as the global pipe (a JSON object, no prototype keys); an unknown field
 * is refused by the schema (`z.strictObject`) and named in the 400.
 */
@Injectable()
export class ZodBodyPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(private readonly schema: S) {}

  transform(value: unknown): z.output<S> {
    if (!isPlainObject(value)) {
      throw new DomainError('validation_failed', 'The request body must be a JSON object.');
    }
    assertSafeKeys(value, '', 0);
    const result = this.schema.safeParse(value);
    if (result.success) return result.data;
    const issue = result.error.issues[0];
    if (issue.code === 'unrecognized_keys') {
      const param = paramOf([...issue.path, issue.keys[0]]);
      throw invalidParam(`Unrecognized request argument supplied: ${param}`, param);
    }
    const param = paramOf(issue.path) || 'body';
    throw invalidParam(`Invalid '${param}': ${issue.message}`, param);
  }
}
