/**
 * Token arithmetic. Two different questions, two answers:
 *
 * - `promptTokenCeiling`: an upper bound, for reserving budget before the upstream call,
 *   computed on every request without a tokenizer. OpenAI's tokenizers are byte-level BPE,
 *   so one token always covers at least one UTF-8 byte: the byte count of everything the
 *   model reads bounds its prompt tokens. Message framing and tool rendering add a few
 *   tokens each, covered by fixed allowances
 *   (https://platform.openai.com/docs/guides/text-generation#managing-tokens). Images are
 *   not text: `image-policy.ts` adds each image part's worst case on the model. Settlement
 *   replaces the reservation by the real usage, so over-reserving only costs headroom.
 * - `estimatePromptTokens` / `estimateTextTokens`: a realistic count, for billing a call
 *   that ended before upstream reported usage (a stream cut short). Counted with a real BPE
 *   tokenizer (gpt-tokenizer, cl100k_base): characters/4 was ~4× low for Japanese or
 *   Chinese text, and exact for no script. cl100k_base needs as many tokens as the newer
 *   o200k_base or more on non-English text (its vocabulary has fewer CJK merges), so the
 *   bill errs high, never low, on the gpt-4o family. The encoder (≈190 ms and ≈45 MB to
 *   load) is loaded on first use: most instances never bill a stream without usage.
 */

/** The message fields that reach the model, as the sanitised request carries them. */
export interface MessageForCount {
  readonly content?: string | readonly ContentPartForCount[] | null;
  readonly name?: string;
  readonly tool_calls?: readonly unknown[];
}

export type ContentPartForCount =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'refusal'; readonly refusal: string }
  | { readonly type: 'image_url'; readonly image_url: unknown }
  | { readonly type: 'input_audio'; readonly input_audio: { readonly data: string } }
  | { readonly type: 'file'; readonly file: { readonly file_data?: string } };

export interface PromptForCount {
  readonly messages: readonly MessageForCount[];
  readonly tools?: readonly unknown[];
  readonly tool_choice?: unknown;
  readonly response_format?: unknown;
}

/** Per message: role and separators (OpenAI's cookbook counts 3, plus 1 for a name). */
export const MESSAGE_OVERHEAD_TOKENS = 4;
/** Every reply is primed with `<|start|>assistant<|message|>`. */
export const REPLY_PRIMING_TOKENS = 3;
/** Tools are rendered into a TypeScript-like namespace: a little boilerplate each. */
export const TOOL_OVERHEAD_TOKENS = 32;
/** A file's allowance for one rendered page image (see `mediaCeiling`). */
export const FILE_PAGE_TOKENS = 3000;

type TokenCounter = (text: string) => number;
let countTokens: TokenCounter | undefined;

/** The tokenizer's counter, loaded on first use (see the file comment). */
function tokenCounter(): TokenCounter {
  if (!countTokens) {
    // A plain require keeps the encoder's tables out of memory until a bill needs them.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const encoding = require('gpt-tokenizer/cjs/encoding/cl100k_base') as {
      countTokens: TokenCounter;
    };
    countTokens = encoding.countTokens;
  }
  return countTokens;
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function jsonBytes(value: unknown): number {
  return value === undefined || value === null ? 0 : utf8Bytes(JSON.stringify(value));
}

/** The text of a message the model reads, images left out. */
export function messageText(message: MessageForCount): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content
    .map((part) => (part.type === 'text' ? part.text : part.type === 'refusal' ? part.refusal : ''))
    .join('');
}

/**
 * Audio and files are not text either. Their encoded bytes bound what the model reads of
 * them (audio: ~10 tokens a second against ≥1 kB a second of mp3); a file adds one image
 * allowance for a rendered page, since PDFs are read as text and page images.
 */
function mediaCeiling(message: MessageForCount): number {
  const { content } = message;
  if (!Array.isArray(content)) return 0;
  let tokens = 0;
  for (const part of content as readonly ContentPartForCount[]) {
    if (part.type === 'input_audio') tokens += part.input_audio.data.length;
    if (part.type === 'file') tokens += (part.file.file_data?.length ?? 0) + FILE_PAGE_TOKENS;
  }
  return tokens;
}

/** Characters of input, for CHAT_MAX_INPUT_CHARS: every text the model reads. */
export function inputChars(prompt: PromptForCount): number {
  let chars = 0;
  for (const message of prompt.messages) {
    chars += messageText(message).length + (message.name?.length ?? 0);
    if (message.tool_calls) chars += JSON.stringify(message.tool_calls).length;
  }
  if (prompt.tools) chars += JSON.stringify(prompt.tools).length;
  return chars;
}

/** An upper bound of the prompt tokens of a request (see the file comment). */
export function promptTokenCeiling(prompt: PromptForCount): number {
  let tokens = REPLY_PRIMING_TOKENS;
  for (const message of prompt.messages) {
    tokens += MESSAGE_OVERHEAD_TOKENS;
    tokens += utf8Bytes(messageText(message));
    tokens += message.name ? utf8Bytes(message.name) : 0;
    tokens += jsonBytes(message.tool_calls);
    tokens += mediaCeiling(message);
  }
  tokens += jsonBytes(prompt.tools) + (prompt.tools?.length ?? 0) * TOOL_OVERHEAD_TOKENS;
  tokens += jsonBytes(prompt.tool_choice) + jsonBytes(prompt.response_format);
  return tokens;
}

/** Tokens of generated or prompt text, as the tokenizer counts them. */
export function estimateTextTokens(text: string): number {
  return text === '' ? 0 : tokenCounter()(text);
}

/** A realistic count of the prompt's text tokens (images apart), for billing when upstream never said. */
export function estimatePromptTokens(prompt: PromptForCount): number {
  let tokens = REPLY_PRIMING_TOKENS;
  for (const message of prompt.messages) {
    tokens += MESSAGE_OVERHEAD_TOKENS + estimateTextTokens(messageText(message));
    if (message.name) tokens += estimateTextTokens(message.name);
    if (message.tool_calls) tokens += estimateTextTokens(JSON.stringify(message.tool_calls));
  }
  if (prompt.tools) tokens += estimateTextTokens(JSON.stringify(prompt.tools));
  return tokens;
}
