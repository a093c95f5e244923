import { type ArgumentMetadata, Injectable, ValidationPipe } from '@nestjs/common';
import { classValidatorPackage, type ValidationError } from './class-validator';
import { DomainError, type FieldError } from './domain-error';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 32;

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

/** A JSON object, or a parsed form (fast-querystring's objects have a prototype-less prototype). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.prototype.toString.call(value) === '[object Object]'
  );
}

/** Refuses prototype-pollution keys at any depth, and absurd nesting. */
export function assertSafeKeys(value: unknown, path: string, depth: number): void {
  if (depth > MAX_DEPTH) {
    throw new DomainError('validation_failed', 'The request body is nested too deeply.');
  }
  if (Array.isArray(value)) {
    value.forEach((item, index) => assertSafeKeys(item, `${path}[${index}]`, depth + 1));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const key of Object.keys(value)) {
    const field = path ? `${path}.${key}` : key;
    if (FORBIDDEN_KEYS.has(key)) {
      throw new DomainError('validation_failed', 'The request body contains a forbidden key.', {
        errors: [{ field, message: `${key} is not allowed` }],
      });
    }
    assertSafeKeys((value as Record<string, unknown>)[key], field, depth + 1);
  }
}

/**
 * The global validation pipe (registered as APP_PIPE, so tests run it too): a body must
 * be a JSON object, may not carry unknown fields (mass assignment) or `__proto__` /
 * `constructor` / `prototype` keys, and must satisfy its DTO.
 */
@Injectable()
export class StrictValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      transform: true,
      // class-validator from its own files, not its index (src/common/class-validator.ts).
      validatorPackage: classValidatorPackage,
      validationError: { target: false, value: false },
      exceptionFactory: (errors) =>
        new DomainError('validation_failed', 'The request has invalid or unknown fields.', {
          errors: flatten(errors),
        }),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const isDto = typeof metadata.metatype === 'function' && metadata.metatype !== Object;
    if (metadata.type === 'body' && isDto) {
      if (!isPlainObject(value)) {
        throw new DomainError('validation_failed', 'The request body must be a JSON object.');
      }
      assertSafeKeys(value, '', 0);
      value = { ...value };
    }
    if (metadata.type === 'query' && isDto && value && typeof value === 'object') {
      assertSafeKeys(value, '', 0);
    }
    return super.transform(value, metadata) as Promise<unknown>;
  }
}
