'use client';

// Live updates, one connection per tab: an EventSource on the app's own /api/events (a
// route handler that relays the user's chat-history events with the user's JWT). Each
// event is re-dispatched on `window` for the sidebar and the chat view.
import { useEffect, useRef } from 'react';

export type LiveEvent =
  | { type: 'thread.created' | 'thread.updated'; data: { thread: { id: string } } }
  | { type: 'thread.deleted'; data: { thread_id: string } }
  | { type: 'message.created' | 'message.updated'; data: { message: { id: string; thread_id: string } } }
  | { type: 'message.deleted'; data: { thread_id: string; message_id: string } }
  | { type: 'reset'; data: { reason: string } };

const EVENT = 'chat-history-event';

/** The thread an event is about (null for `reset`). */
export function threadOf(event: LiveEvent): string | null {
  switch (event.type) {
    case 'thread.created':
    case 'thread.updated':
      return event.data.thread.id;
    case 'message.created':
    case 'message.updated':
      return event.data.message.thread_id;
    case 'thread.deleted':
    case 'message.deleted':
      return event.data.thread_id;
    default:
      return null;
  }
}

export function LiveEvents() {
  useEffect(() => {
    const source = new EventSource('/api/events');
    const root = document.documentElement;
    // `data-live`: "on" once the service's stream is open (the tests wait for it).
    source.addEventListener('open', () => {
      root.dataset.live = 'on';
    });
    source.onerror = () => {
      root.dataset.live = 'off';
    };
    source.onmessage = (message) => {
      const event = JSON.parse(message.data) as LiveEvent;
      window.dispatchEvent(new CustomEvent<LiveEvent>(EVENT, { detail: event }));
    };
    return () => source.close();
  }, []);
  return null;
}

/** Calls `handler` with each live event while the component is mounted. */
export function useLiveEvents(handler: (event: LiveEvent) => void) {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => {
    const listener = (e: Event) => ref.current((e as CustomEvent<LiveEvent>).detail);
    window.addEventListener(EVENT, listener);
    return () => window.removeEventListener(EVENT, listener);
  }, []);
}

/** Runs `task` now, or once more after the run in progress (bursts of events become one or two runs). */
export function useCoalesced(task: () => Promise<void>) {
  const state = useRef({ running: false, again: false });
  const ref = useRef(task);
  ref.current = task;
  return useRef(async () => {
    if (state.current.running) {
      state.current.again = true;
      return;
    }
    state.current.running = true;
    try {
      do {
        state.current.again = false;
        await ref.current().catch((e) => console.error(e));
      } while (state.current.again);
    } finally {
      state.current.running = false;
    }
  }).current;
}
