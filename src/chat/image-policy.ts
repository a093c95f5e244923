import ipaddr from 'ipaddr.js';
import { DomainError } from '../common/domain-error';
import type { ImagePartRef } from './image-parts';

/** What one image part may cost on a model: any detail, and with `detail: "low"`. */
export interface ImageTokenCost {
  readonly high: number;
  readonly low: number;
}

/**
 * The most input tokens one image part can cost, per model family (OpenAI's published image
 * pricing, https://platform.openai.com/docs/guides/images-vision#calculating-costs).
 * Tile-based models: an image is fitted into 2048 × 2048, its short side scaled to 768 px,
 * then cut into 512 px tiles: at most 8 tiles (2048 × 768), billed base + 8 × per-tile; low
 * detail is the base alone. Patch-based models: at most 1,536 patches of 32 px, times the
 * model's multiplier, whatever the detail. A model matches its own entry or the longest
 * entry it starts with followed by `-` (`gpt-4o-2024-08-06` is `gpt-4o`).
 */
export const DEFAULT_IMAGE_TOKENS: Readonly<Record<string, ImageTokenCost>> = {
  'gpt-4o-mini': { high: 2833 + 8 * 5667, low: 2833 },
  'gpt-4o': { high: 85 + 8 * 170, low: 85 },
  'chatgpt-4o': { high: 85 + 8 * 170, low: 85 },
  'gpt-4-turbo': { high: 85 + 8 * 170, low: 85 },
  'gpt-4.1': { high: 85 + 8 * 170, low: 85 },
  'gpt-4.5': { high: 85 + 8 * 170, low: 85 },
  'gpt-4.1-mini': { high: Math.ceil(1536 * 1.62), low: Math.ceil(1536 * 1.62) },
  'gpt-4.1-nano': { high: Math.ceil(1536 * 2.46), low: Math.ceil(1536 * 2.46) },
  'gpt-5': { high: 70 + 8 * 140, low: 70 },
  'gpt-5-mini': { high: Math.ceil(1536 * 1.62), low: Math.ceil(1536 * 1.62) },
  'gpt-5-nano': { high: Math.ceil(1536 * 2.46), low: Math.ceil(1536 * 2.46) },
  o1: { high: 75 + 8 * 150, low: 75 },
  o3: { high: 75 + 8 * 150, low: 75 },
  'o4-mini': { high: Math.ceil(1536 * 1.72), low: Math.ceil(1536 * 1.72) },
  'computer-use-preview': { high: 65 + 8 * 129, low: 65 },
};

export interface ImagePolicy {
  /** CHAT_MAX_IMAGES: image parts allowed in one request. */
  readonly maxImages: number;
  /** The per-model table: built-in defaults, overridden by CHAT_IMAGE_TOKENS. */
  readonly imageTokens: Readonly<Record<string, ImageTokenCost>>;
}

/** The worst case of one image part on `model`; a model not in the table takes the largest. */
export function imageTokenCost(
  model: string,
  table: Readonly<Record<string, ImageTokenCost>>,
): ImageTokenCost {
  let best: string | undefined;
  for (const name of Object.keys(table)) {
    const matches = model === name || model.startsWith(`${name}-`);
    if (matches && (best === undefined || name.length > best.length)) best = name;
  }
  if (best !== undefined) return table[best];
  const largest = Math.max(0, ...Object.values(table).map((cost) => cost.high));
  return { high: largest, low: largest };
}

/** Host names that only mean something inside a network (RFC 6761, RFC 6762, RFC 8375...). */
const PRIVATE_NAME =
  /(^|\.)(localhost|local|internal|intranet|private|corp|home|lan|localdomain|home\.arpa|in-addr\.arpa|ip6\.arpa|onion|test|invalid|example)$/;
const DATA_IMAGE = /^data:image\/[a-z0-9.+-]+(;[a-z0-9-]+=[^;,]*)*;base64,/i;

/**
 * Why `url` may not be relayed as an image, or undefined if it may. The upstream fetches
 * image URLs itself; a self-hosted upstream (vLLM, LiteLLM) does so from inside the network,
 * so a URL must not lead there: only `data:` images and `https:` URLs whose host is a public
 * name or a public (global unicast) address on the default port. IP literals are judged
 * after WHATWG URL parsing, which already turns decimal, octal and hex forms
 * (`https://2130706433/`, `https://0177.1/`) into dotted IPv4; IPv6 forms that embed IPv4
 * (mapped, NAT64, 6to4, Teredo) are not global unicast and are refused. A public name that
 * resolves to a private address cannot be told apart here (the upstream resolves it, maybe
 * differently): that is for the upstream's network egress rules (docs/chat.md).
 */
export function imageUrlProblem(url: string): string | undefined {
  if (url.startsWith('data:')) {
    return DATA_IMAGE.test(url) ? undefined : 'a data: URL must be a base64 image';
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  if (parsed.protocol !== 'https:') return 'must be an https: or data: URL';
  if (parsed.username || parsed.password) return 'must not carry credentials';
  if (parsed.port !== '') return 'must use the default https port';
  const host = parsed.hostname.replace(/\.$/, '').toLowerCase();
  const literal = host.startsWith('[') ? host.slice(1, -1) : host;
  if (ipaddr.isValid(literal)) {
    // Strict four-part dotted or IPv6 only: anything else was normalised by URL above.
    if (!ipaddr.IPv4.isValidFourPartDecimal(literal) && !ipaddr.IPv6.isValid(literal)) {
      return 'must not be an unusual IP address form';
    }
    const range = ipaddr.parse(literal).range();
    return range === 'unicast' ? undefined : `must not point to a ${range} address`;
  }
  if (!host.includes('.')) return 'must name a public host';
  if (PRIVATE_NAME.test(host)) return 'must name a public host';
  return undefined;
}

function refuse(detail: string, param: string): DomainError {
  return new DomainError('validation_failed', detail, {
    param,
    errors: [{ field: param, message: detail }],
  });
}

/**
 * The one place the image policy of a chat request is decided, called by the sanitizer with
 * every image part (`imageParts`) once the schema has checked their shape: checks the count
 * and each URL, and returns the tokens to reserve (each part's worst case on `model`).
 * Throws 400 naming the first part refused.
 */
export function reserveImageTokens(
  images: readonly ImagePartRef[],
  model: string,
  policy: ImagePolicy,
): number {
  if (images.length > policy.maxImages) {
    throw refuse(
      `At most ${policy.maxImages} images are allowed per request.`,
      images[policy.maxImages].param,
    );
  }
  const cost = imageTokenCost(model, policy.imageTokens);
  let tokens = 0;
  for (const { param, part } of images) {
    const problem = imageUrlProblem(part.image_url.url);
    if (problem) throw refuse(`The image URL ${problem}.`, `${param}.image_url.url`);
    tokens += part.image_url.detail === 'low' ? cost.low : cost.high;
  }
  return tokens;
}

/** The largest worst case of the built-in table: what an image costs where the model is not known yet. */
export const LARGEST_IMAGE_TOKENS = imageTokenCost('', DEFAULT_IMAGE_TOKENS).high;
