import { inspect } from 'node:util';
import { SECRET_VARIABLES, type SecretVariable } from './environment';

/** Values a secrets provider supplied, by variable name. */
export type ProvidedValues = Partial<Record<SecretVariable, string>>;

/**
 * The secret variables a provider (AWS Secrets Manager) supplied. Printing or serialising
 * it shows the names only, so a config object that reaches a log line or an error never
 * carries the values with it.
 */
export class ProvidedSecrets {
  private readonly values: ReadonlyMap<SecretVariable, string>;

  constructor(values: ProvidedValues = {}) {
    this.values = new Map(
      Object.entries(values).filter((entry): entry is [SecretVariable, string] =>
        isSecretVariable(entry[0]),
      ),
    );
  }

  get(name: SecretVariable): string | undefined {
    return this.values.get(name);
  }

  names(): SecretVariable[] {
    return [...this.values.keys()];
  }

  toObject(): ProvidedValues {
    return Object.fromEntries(this.values);
  }

  toJSON(): { names: SecretVariable[] } {
    return { names: this.names() };
  }

  [inspect.custom](): string {
    return `ProvidedSecrets(${this.names().join(', ')})`;
  }
}

export function isSecretVariable(name: string): name is SecretVariable {
  return (SECRET_VARIABLES as readonly string[]).includes(name);
}

/** The secret is not a JSON object. Deliberately says nothing about the content. */
export class SecretFormatError extends Error {
  constructor() {
    super('the secret is not a JSON object of variable names');
    this.name = 'SecretFormatError';
  }
}

/**
 * Parses a SecretString. JSON.parse's own message can quote part of the text (a secret),
 * so it is replaced, never passed on.
 */
export function parseSecretDocument(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SecretFormatError();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SecretFormatError();
  }
  return parsed as Record<string, unknown>;
}

export interface MergeResult {
  /** Accepted values: secret variables with a non-empty string that the environment leaves unset. */
  readonly values: ProvidedValues;
  /** Keys that are not secret variables (ignored; a warning names them). */
  readonly unknown: string[];
  /** Secret variables the environment sets too (X or X_FILE). */
  readonly conflicts: SecretVariable[];
  /** Secret variables whose value is not a string. */
  readonly invalid: SecretVariable[];
}

/**
 * docs/reference.md "Wire details": the AWS secret is a JSON object whose keys are variable names.
 * Only secret variables are taken; a variable also set in the environment is a conflict
 * rather than a silent precedence rule, like X and X_FILE. An empty string counts as unset.
 */
export function mergeProviderSecrets(
  document: Record<string, unknown>,
  environmentNames: ReadonlySet<string>,
): MergeResult {
  const values: ProvidedValues = {};
  const unknown: string[] = [];
  const conflicts: SecretVariable[] = [];
  const invalid: SecretVariable[] = [];
  for (const [key, value] of Object.entries(document)) {
    if (!isSecretVariable(key)) {
      unknown.push(key);
    } else if (typeof value !== 'string') {
      invalid.push(key);
    } else if (value === '') {
      continue;
    } else if (environmentNames.has(key)) {
      conflicts.push(key);
    } else {
      values[key] = value;
    }
  }
  return { values, unknown, conflicts, invalid };
}

/** The secret variables the resolved environment sets itself (X, X_FILE or `.env`). */
export function environmentSecretNames(
  env: Readonly<Record<string, string | undefined>>,
): Set<SecretVariable> {
  const set = (name: string) => env[name] !== undefined && env[name] !== '';
  return new Set(SECRET_VARIABLES.filter((name) => set(name) || set(`${name}_FILE`)));
}
