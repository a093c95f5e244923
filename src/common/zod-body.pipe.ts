import { Injectable, type PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { DomainError } from './domain-error';
import { assertSafeKeys, isPlainObject } from './strict-validation.pipe';

type Issue = z.core.$ZodIssue;

/** `messages[0].content[1].image_url`: the notation OpenAI uses for `error.param`. */
export function paramPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) =>
      typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`,
    )
    .join('');
}

function describe(issue: Issue): { field: string; message: string } {
  if (issue.code === 'unrecognized_keys') {
    const field = paramPath([...issue.path, issue.keys[0]]);
    return { field, message: `Unrecognized request argument supplied: ${field}` };
  }
  const field = paramPath(issue.path);
  const union = issue as { note?: string; options?: unknown[] };
  if (issue.code === 'invalid_union' && union.note === 'No matching discriminator') {
    const options = union.options ?? [];
    return {
      field,
      message: `Invalid value for '${field}': supported values are ${options.map((o) => `'${String(o)}'`).join(', ')}.`,
    };
  }
  return { field, message: `Invalid value for '${field || 'body'}': ${issue.message}.` };
}

/**
 * Validates a JSON body with a compiled zod schema (cheap on hot paths, unlike
 * class-validator's reflection) and refuses it in the same terms as the global pipe: a
 * non-object body, prototype-pollution keys, unknown fields, each a 400 naming the field.
 * The parameter must be typed with a type alias, so the global class-validator pipe skips it.
 */
@Injectable()
export class ZodBodyPipe<T extends z.ZodType> implements PipeTransform<unknown, z.output<T>> {
  constructor(private readonly schema: T) {}

  transform(value: unknown): z.output<T> {
    if (!isPlainObject(value)) {
      throw new DomainError('validation_failed', 'The request body must be a JSON object.');
    }
    assertSafeKeys(value, '', 0);
    const result = this.schema.safeParse(value);
    if (result.success) return result.data;
    const errors = result.error.issues.slice(0, 10).map(describe);
    return this.fail(errors);
  }

  private fail(errors: { field: string; message: string }[]): never {
    throw new DomainError('validation_failed', errors[0].message, {
      param: errors[0].field || undefined,
      errors,
    });
  }
}
