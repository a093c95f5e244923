/**
 * What one upstream call used, as OpenAI reports it: `promptTokens` includes the cached ones
 * (`prompt_tokens_details.cached_tokens`, Responses' `input_tokens_details.cached_tokens`),
 * `completionTokens` includes the reasoning ones (`completion_tokens_details.reasoning_tokens`,
 * `output_tokens_details.reasoning_tokens`).
 */
export interface MeteredUsage {
  readonly promptTokens: number;
  readonly cachedTokens: number;
  readonly completionTokens: number;
  readonly reasoningTokens: number;
  /** Images generated (image models). */
  readonly images?: number;
}

/** Anything shaped like chat's or Responses' `usage` (fields may be missing or null). */
interface UpstreamUsageShape {
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  input_tokens?: number | null;
  output_tokens?: number | null;
  prompt_tokens_details?: { cached_tokens?: number | null } | null;
  completion_tokens_details?: { reasoning_tokens?: number | null } | null;
  input_tokens_details?: { cached_tokens?: number | null } | null;
  output_tokens_details?: { reasoning_tokens?: number | null } | null;
}

const count = (value: number | null | undefined): number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.round(value) : 0;

/**
 * Reads an upstream `usage` object of chat completions, Responses or embeddings. Detail counts
 * are clamped to their totals, so a malformed upstream answer cannot make a cost negative.
 */
export function meteredFromUpstream(usage: UpstreamUsageShape): MeteredUsage {
  const promptTokens = count(usage.prompt_tokens ?? usage.input_tokens);
  const completionTokens = count(usage.completion_tokens ?? usage.output_tokens);
  const cached = count(
    usage.prompt_tokens_details?.cached_tokens ?? usage.input_tokens_details?.cached_tokens,
  );
  const reasoning = count(
    usage.completion_tokens_details?.reasoning_tokens ??
      usage.output_tokens_details?.reasoning_tokens,
  );
  return {
    promptTokens,
    cachedTokens: Math.min(cached, promptTokens),
    completionTokens,
    reasoningTokens: Math.min(reasoning, completionTokens),
  };
}

/** Usage known only as two totals (estimates, cut streams): nothing cached, no reasoning split. */
export function meteredFromTotals(promptTokens: number, completionTokens: number): MeteredUsage {
  return {
    promptTokens: Math.max(0, Math.round(promptTokens)),
    cachedTokens: 0,
    completionTokens: Math.max(0, Math.round(completionTokens)),
    reasoningTokens: 0,
  };
}
