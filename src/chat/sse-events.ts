/** One event may not grow past this without a boundary: a broken upstream, not a reply. */
const MAX_PENDING_CHARS = 1024 * 1024;

/**
 * Splits upstream's SSE bytes into events, one network chunk at a time
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 * Lines end in LF or CRLF (what OpenAI and compatible servers send); a lone CR is not
 * treated as a line end. Shared by the chat and Responses translators.
 */
export class SseEventSplitter {
  private readonly decoder = new TextDecoder();
  private pending = '';

  /** Adds one network chunk. */
  feed(bytes: Uint8Array): void {
    this.pending = (this.pending + this.decoder.decode(bytes, { stream: true })).replace(
      /\r\n/g,
      '\n',
    );
  }

  /** The next complete event's text (without its blank line), or undefined for none yet. */
  next(): string | undefined {
    const boundary = this.pending.indexOf('\n\n');
    if (boundary === -1) return undefined;
    const event = this.pending.slice(0, boundary);
    this.pending = this.pending.slice(boundary + 2);
    return event;
  }

  /** What is left without a boundary has grown past the bound (a malformed stream). */
  get overflowing(): boolean {
    return this.pending.length > MAX_PENDING_CHARS;
  }
}

/** An event's `event:` name (undefined when it has none) and its `data:` lines joined. */
export function parseSseEvent(event: string): { name?: string; data?: string } {
  const data: string[] = [];
  let name: string | undefined;
  for (const line of event.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') name = value;
  }
  return { name, data: data.length === 0 ? undefined : data.join('\n') };
}
