import { buildMessage, ValidateBy, type ValidationOptions } from 'class-validator';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasOnlyKeys(value: Record<string, unknown>, allowed: readonly string[]): boolean {
  return Object.keys(value).every((key) => allowed.includes(key));
}

const IMAGE_DETAILS = ['auto', 'low', 'high'];

/** A content part Keyward relays: text, or an image by URL (OpenAI's two input part types for chat). */
export function isContentPart(value: unknown): boolean {
  if (!isRecord(value)) return false;
  if (value.type === 'text') {
    return hasOnlyKeys(value, ['type', 'text']) && typeof value.text === 'string';
  }
  if (value.type === 'image_url') {
    const image = value.image_url;
    return (
      hasOnlyKeys(value, ['type', 'image_url']) &&
      isRecord(image) &&
      hasOnlyKeys(image, ['url', 'detail']) &&
      typeof image.url === 'string' &&
      (image.detail === undefined ||
        (typeof image.detail === 'string' && IMAGE_DETAILS.includes(image.detail)))
    );
  }
  return false;
}

/** `content`: a string, or an array of text / image_url parts (no other part types or fields). */
export function IsMessageContent(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isMessageContent',
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' ||
          (Array.isArray(value) && value.length > 0 && value.every(isContentPart)),
        defaultMessage: buildMessage(
          (prefix) =>
            `${prefix}$property must be a string or an array of {type: "text", text} / {type: "image_url", image_url: {url, detail?}} parts`,
          options,
        ),
      },
    },
    options,
  );
}

function isToolCall(value: unknown): boolean {
  if (!isRecord(value) || !hasOnlyKeys(value, ['id', 'type', 'function'])) return false;
  const fn = value.function;
  return (
    typeof value.id === 'string' &&
    value.type === 'function' &&
    isRecord(fn) &&
    hasOnlyKeys(fn, ['name', 'arguments']) &&
    typeof fn.name === 'string' &&
    typeof fn.arguments === 'string'
  );
}

/** An assistant message's `tool_calls`: `[{id, type: "function", function: {name, arguments}}]`. */
export function IsToolCalls(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isToolCalls',
      validator: {
        validate: (value: unknown) => Array.isArray(value) && value.every(isToolCall),
        defaultMessage: buildMessage(
          (prefix) =>
            `${prefix}$property must be an array of {id, type: "function", function: {name, arguments}}`,
          options,
        ),
      },
    },
    options,
  );
}

/** `stop`: a string or up to 4 strings (OpenAI's limit). */
export function IsStopSequences(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isStopSequences',
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' ||
          (Array.isArray(value) &&
            value.length <= 4 &&
            value.every((item) => typeof item === 'string')),
        defaultMessage: buildMessage(
          (prefix) => `${prefix}$property must be a string or an array of at most 4 strings`,
          options,
        ),
      },
    },
    options,
  );
}

/** `tool_choice`: `none` | `auto` | `required`, or an object naming a tool. */
export function IsToolChoice(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isToolChoice',
      validator: {
        validate: (value: unknown) =>
          (typeof value === 'string' && ['none', 'auto', 'required'].includes(value)) ||
          (isRecord(value) && typeof value.type === 'string'),
        defaultMessage: buildMessage(
          (prefix) => `${prefix}$property must be none, auto, required or a tool choice object`,
          options,
        ),
      },
    },
    options,
  );
}

/** `tools`: an array of free-form JSON objects, nothing else in it. */
export function IsObjectArray(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isObjectArray',
      validator: {
        validate: (value: unknown) => Array.isArray(value) && value.every(isRecord),
        defaultMessage: buildMessage(
          (prefix) => `${prefix}$property must be an array of objects`,
          options,
        ),
      },
    },
    options,
  );
}
