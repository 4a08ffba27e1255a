// A parser of `text/event-stream` (server-sent events), as the HTML standard's
// "event stream interpretation" describes it: lines end in CRLF, LF or CR; `:` starts a
// comment; `data:` lines of one event are joined with "\n"; `id:` sets the last event id
// (also in a block without data, which dispatches nothing); `retry:` (digits only) sets
// the reconnection delay; a blank line dispatches the event. Used by the event
// subscription over `fetch`, and by uiMessageChunksFromSse (the AI SDK's UI message streams).

/** One dispatched event. */
export interface SseEvent {
  /** The `event:` field; `"message"` when the block had none. */
  event: string;
  /** The `data:` lines, joined with "\n". */
  data: string;
  /** The last event id once this event is dispatched (`id:` of this block or an earlier one). */
  lastEventId: string;
}

/** What the parser reports. */
export interface SseHandlers {
  /** An event (a block with at least one `data:` line). */
  onEvent: (event: SseEvent) => void;
  /** A `retry:` field: the reconnection delay the server asks for, in milliseconds. */
  onRetry?: (ms: number) => void;
  /** A comment line (what follows the `:`), e.g. the service's keep-alives. */
  onComment?: (text: string) => void;
}

/** Feeds text in chunks of any size; reports events as their blank line arrives. */
export class SseParser {
  /** The last event id so far (an `id:` line, dispatched with its block). */
  lastEventId = "";
  private buffer = "";
  private data: string[] = [];
  private eventType = "";
  private idBuffer: string | null = null;
  private started = false;
  private readonly handlers: SseHandlers;

  constructor(handlers: SseHandlers) {
    this.handlers = handlers;
  }

  /** Parses a chunk of the stream (decoded text). */
  push(chunk: string): void {
    if (!this.started && chunk.length > 0) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    this.buffer += chunk;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf("\r", start);
      const lf = this.buffer.indexOf("\n", start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (lf !== -1 && (cr === -1 || lf < cr)) {
        end = lf;
        next = lf + 1;
      } else {
        // A CR: it may be the first half of a CRLF split across chunks.
        if (cr === this.buffer.length - 1) break;
        end = cr;
        next = this.buffer[cr + 1] === "\n" ? cr + 2 : cr + 1;
      }
      this.line(this.buffer.slice(start, end));
      start = next;
    }
    this.buffer = this.buffer.slice(start);
  }

  /** The stream ended: an event without its blank line is dropped, as the standard says. */
  end(): void {
    this.buffer = "";
    this.data = [];
    this.eventType = "";
  }

  private line(line: string): void {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.startsWith(":")) {
      this.handlers.onComment?.(line.slice(1).replace(/^ /, ""));
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.idBuffer = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.handlers.onRetry?.(Number(value));
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(): void {
    if (this.idBuffer !== null) this.lastEventId = this.idBuffer;
    const data = this.data;
    const event = this.eventType || "message";
    this.data = [];
    this.eventType = "";
    if (data.length === 0) return;
    this.handlers.onEvent({ event, data: data.join("\n"), lastEventId: this.lastEventId });
  }
}
