/**
 * Token arithmetic without a tokenizer. Two different questions, two answers:
 *
 * - `promptTokenCeiling`: an upper bound, for reserving budget before the upstream call.
 *   OpenAI's tokenizers are byte-level BPE, so one token always covers at least one UTF-8
 *   byte: the byte count of everything the model reads bounds its prompt tokens. Message
 *   framing and tool rendering add a few tokens each, covered by fixed allowances
 *   (https://platform.openai.com/docs/guides/text-generation#managing-tokens). Images are
 *   not text: each reserves `IMAGE_TOKEN_CEILING` (a high-detail 2048 px image costs
 *   1,105 tokens on gpt-4o; more on newer models, hence the margin). Settlement replaces
 *   the reservation by the real usage, so over-reserving only costs headroom, never money.
 * - `estimatePromptTokens` / `estimateTextTokens`: a realistic guess (about 4 characters a
 *   token for English), for billing a stream that ended before upstream reported usage.
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
export const IMAGE_TOKEN_CEILING = 3000;

const CHARS_PER_TOKEN = 4;

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
    if (part.type === 'file') tokens += (part.file.file_data?.length ?? 0) + IMAGE_TOKEN_CEILING;
  }
  return tokens;
}

function imageCount(message: MessageForCount): number {
  const { content } = message;
  if (!Array.isArray(content)) return 0;
  return (content as readonly ContentPartForCount[]).filter((part) => part.type === 'image_url')
    .length;
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
    tokens += imageCount(message) * IMAGE_TOKEN_CEILING;
    tokens += mediaCeiling(message);
  }
  tokens += jsonBytes(prompt.tools) + (prompt.tools?.length ?? 0) * TOOL_OVERHEAD_TOKENS;
  tokens += jsonBytes(prompt.tool_choice) + jsonBytes(prompt.response_format);
  return tokens;
}

export function estimateTextTokens(text: string | number): number {
  const length = typeof text === 'number' ? text : text.length;
  return Math.ceil(length / CHARS_PER_TOKEN);
}

/** A realistic guess of the prompt tokens, for billing when upstream never said. */
export function estimatePromptTokens(prompt: PromptForCount): number {
  return prompt.messages.reduce(
    (sum, message) => sum + estimateTextTokens(messageText(message)) + MESSAGE_OVERHEAD_TOKENS,
    0,
  );
}
