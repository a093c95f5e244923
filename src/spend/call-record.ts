import type { Principal } from '../auth/principal';
import type { RelayOutcome } from '../chat/chat-stream.relay';
import type { ChatTiming } from '../chat/server-timing';
import { DomainError } from '../common/domain-error';
import type { RequestLog } from '../logging/request-log';

/** Prompt and completion text of a call, for teams that log content (docs/request-log.md). */
export interface CallContent {
  readonly prompt: string;
  readonly completion: string;
}

/**
 * What settling a call needs to know besides its usage: who made it, where, how it ended, its
 * timing. Built by the service that made the upstream call (chat, Responses, embeddings) and
 * handed to `BudgetService.settle`, which turns it into the call's request-log row.
 */
export interface CallRecord {
  readonly principal: Pick<Principal, 'userId' | 'apiKeyId' | 'teamId'>;
  readonly requestId: string;
  /** The route template, e.g. `/v1/chat/completions`. */
  readonly route: string;
  readonly timing: ChatTiming;
  readonly stream: boolean;
  /** The HTTP status as text, or `client_closed` / `upstream_error` / `upstream_timeout`. */
  readonly status: string;
  readonly log?: RequestLog;
  /** Read only when the call's team logs content; never on the hot path otherwise. */
  readonly content?: () => CallContent;
}

/** The identity part of a call, from the service's call context. */
export interface CallOrigin {
  readonly principal: Pick<Principal, 'userId' | 'apiKeyId' | 'teamId'>;
  readonly requestId?: string;
  readonly route?: string;
  readonly timing: ChatTiming;
  readonly signal: AbortSignal;
  readonly log?: RequestLog;
}

export function callRecord(
  origin: CallOrigin,
  route: string,
  details: { stream: boolean; status: string; content?: () => CallContent },
): CallRecord {
  return {
    principal: origin.principal,
    requestId: origin.requestId ?? '',
    route: origin.route ?? route,
    timing: origin.timing,
    log: origin.log,
    ...details,
  };
}

/** The status of a call that threw: the client leaving first, else the error's HTTP status. */
export function failedCallStatus(error: unknown, origin: Pick<CallOrigin, 'signal'>): string {
  if (origin.signal.aborted) return 'client_closed';
  if (error instanceof DomainError) return String(error.status);
  return '500';
}

/** The status of a stream that started (200 went out): what ended it. */
export function streamStatus(outcome: RelayOutcome | undefined): string {
  switch (outcome) {
    case 'completed':
      return '200';
    case 'client_aborted':
      return 'client_closed';
    case 'timeout':
      return 'upstream_timeout';
    default:
      return 'upstream_error';
  }
}
