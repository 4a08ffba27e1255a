// The browser's live updates: a same-origin Server-Sent Events stream that relays the
// user's chat-history events (GET /api/v1/events, through the client's subscribe, with
// the user's JWT as the bearer token). The browser's EventSource reconnects by itself and
// sends Last-Event-ID, which is passed on, so nothing retained is missed.
import type { ChatHistoryEvent } from '@chat-history/client';

import { chatHistory, signInFirst } from '@/lib/chat-history';

export const dynamic = 'force-dynamic';

export async function GET(req: Request) {
  const history = await chatHistory({ longLived: true });
  if (!history) return signInFirst();
  const lastEventId = req.headers.get('last-event-id') ?? undefined;
  const encoder = new TextEncoder();
  let subscription: { close(): void } | null = null;
  let heartbeat: ReturnType<typeof setInterval> | null = null;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string) => {
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          // the browser went away
        }
      };
      send('retry: 2000\n: connected\n\n');
      heartbeat = setInterval(() => send(': keep-alive\n\n'), 15_000);
      subscription = history.subscribe({
        lastEventId,
        signal: req.signal,
        onOpen: () => send('event: open\ndata: {}\n\n'),
        onEvent: (event: ChatHistoryEvent) => {
          // One kind of SSE message for the browser: {type, data}; the id for Last-Event-ID.
          const id = event.id ? `id: ${event.id}\n` : '';
          send(`${id}data: ${JSON.stringify({ type: event.type, data: event.data })}\n\n`);
        },
        onError: (error, { willRetry }) => {
          if (!willRetry) {
            console.error('chat-history events stopped', error);
            try {
              controller.close();
            } catch {
              // closed already
            }
          }
        },
      });
    },
    cancel() {
      subscription?.close();
      if (heartbeat) clearInterval(heartbeat);
    },
  });
  req.signal.addEventListener('abort', () => {
    subscription?.close();
    if (heartbeat) clearInterval(heartbeat);
  });
  return new Response(stream, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    },
  });
}
