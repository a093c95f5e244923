import { Injectable, type PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { DomainError } from './domain-error';
import { assertSafeKeys, isPlainObject } from './strict-validation.pipe';

type Issue = z.core.$ZodIssue;

/** An unknown key is echoed back: cut, so a megabyte-long key is not reflected whole. */
const MAX_KEY_ECHO = 64;

/** `messages[0].content[1].image_url`: the notation OpenAI uses for `error.param`. */
export function paramPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) => {
      if (typeof key === 'number') return `[${key}]`;
      const name = String(key);
      const shown = name.length > MAX_KEY_ECHO ? `${name.slice(0, MAX_KEY_ECHO)}…` : name;
      return `${index === 0 ? '' : '.'}${shown}`;
    })
    .join('');
}

/**
 * A union's issue says only "invalid input"; the branch that got furthest says what is
 * wrong (`messages[0].content[1].type`), so that one is reported.
 */
function deepest(
  issue: Issue,
  prefix: readonly PropertyKey[],
): { issue: Issue; path: PropertyKey[] } {
  const path = [...prefix, ...issue.path];
  let best: { issue: Issue; path: PropertyKey[] } | undefined;
  if (issue.code === 'invalid_union') {
    for (const branch of issue.errors) {
      for (const inner of branch) {
        if (inner.code === 'invalid_type' && inner.path.length === 0) continue;
        const found = deepest(inner, path);
        if (!best || found.path.length > best.path.length) best = found;
      }
    }
  }
  return best ?? { issue, path };
}

function describe(reported: Issue): { field: string; message: string } {
  const { issue, path } = deepest(reported, []);
  if (issue.code === 'unrecognized_keys') {
    const field = paramPath([...path, issue.keys[0]]);
    return { field, message: `Unrecognized request argument supplied: ${field}` };
  }
  const field = paramPath(path);
  const union = issue as { note?: string; options?: unknown[] };
  if (issue.code === 'invalid_union' && union.note === 'No matching discriminator') {
    const options = (union.options ?? []).map((option) => `'${String(option)}'`).join(', ');
    return { field, message: `Invalid value for '${field}': supported values are ${options}.` };
  }
  if (issue.code === 'invalid_union') {
    const expected = issue.errors.flatMap((branch) =>
      branch.flatMap((inner) => (inner.code === 'invalid_type' ? [inner.expected] : [])),
    );
    if (expected.length > 0) {
      return { field, message: `Invalid type for '${field}': expected ${expected.join(' or ')}.` };
    }
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

/** A 400 naming the field at fault, as OpenAI's `param` and as a field error. */
export function invalidParam(detail: string, param: string, openAiCode?: string): DomainError {
  return new DomainError('validation_failed', detail, {
    param,
    ...(openAiCode ? { openAiCode } : {}),
    errors: [{ field: param, message: detail }],
  });
}
