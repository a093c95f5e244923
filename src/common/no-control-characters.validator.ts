import { Matches } from './class-validator';

/** C0 and C1 controls, NUL included (Unicode general category Cc). */
const NO_CONTROL_CHARACTERS = /^[^\p{Cc}]*$/u;

/**
 * For credential fields: a NUL or another control character is a 400, never a value that
 * reaches a query, the audit table or a log line (PostgreSQL refuses NUL in text: a 500).
 */
export function NoControlCharacters(): PropertyDecorator {
  return Matches(NO_CONTROL_CHARACTERS, {
    message: ({ property }) => `${property} must not contain control characters`,
  });
}
