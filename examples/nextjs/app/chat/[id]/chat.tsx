'use client';

// The chat view: useChat for the replies this tab asks for; the events feed for everything
// else (another tab's messages, a reply still streaming after a reload), by reloading the
// active path from the server. "< 2 / 3 >" versions, edit and regenerate as branches,
// stop (the partial reply is kept as "aborted"), export.
import { useChat } from '@ai-sdk/react';
import { generateUuid, type PathMessageInfo } from '@chat-history/client';
import { DefaultChatTransport, type UIMessage } from 'ai';
import { useEffect, useRef, useState } from 'react';

import { threadOf, useCoalesced, useLiveEvents } from '@/components/live';

type Info = Record<string, PathMessageInfo>;

interface Props {
  id: string;
  initialTitle: string;
  initialMessages: UIMessage[];
  initialInfo: Info;
}

function textOf(message: UIMessage): string {
  return message.parts.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

export function Chat({ id, initialTitle, initialMessages, initialInfo }: Props) {
  const [info, setInfo] = useState<Info>(initialInfo);
  const [title, setTitle] = useState(initialTitle);
  const [input, setInput] = useState('');
  const [editing, setEditing] = useState<{ id: string; text: string } | null>(null);
  const { messages, setMessages, sendMessage, regenerate, stop, status, error } = useChat({
    id, // the thread's id
    messages: initialMessages,
    generateId: generateUuid, // the service's ids are UUIDs
    transport: new DefaultChatTransport({
      api: '/api/chat',
      // Only the new message and the one it follows: the server has the rest.
      prepareSendMessagesRequest: ({ id, messages }) => ({
        body: { id, message: messages.at(-1), parentId: messages.at(-2)?.id ?? null },
      }),
    }),
  });
  const busy = status === 'submitted' || status === 'streaming';
  const busyRef = useRef(busy);
  busyRef.current = busy;

  // The stored state of the chat, when this tab is not streaming a reply of its own.
  const reload = useCoalesced(async () => {
    if (busyRef.current) return;
    const res = await fetch(`/api/threads/${id}`);
    if (!res.ok || busyRef.current) return;
    const loaded: { thread: { title: string }; messages: UIMessage[]; info: Info } = await res.json();
    setMessages(loaded.messages);
    setInfo(loaded.info);
    setTitle(loaded.thread.title);
  });

  // When this tab's reply ends: the stored versions and statuses.
  const wasBusy = useRef(false);
  useEffect(() => {
    if (wasBusy.current && !busy) void reload();
    wasBusy.current = busy;
  }, [busy, reload]);

  // Another tab, another device, or the reply this page follows after a reload.
  useLiveEvents((event) => {
    if (event.type === 'reset' || threadOf(event) === id) void reload();
  });

  // Keep the newest message in view.
  const bottom = useRef<HTMLDivElement>(null);
  useEffect(() => {
    bottom.current?.scrollIntoView({ block: 'end' });
  }, [messages]);

  const last = messages.at(-1);
  const following = !busy && last !== undefined && info[last.id]?.status === 'streaming';

  async function stopReply() {
    // The server ends the generation (the reply is saved "aborted" with what it has) ...
    await fetch(`/api/chat/${id}/stop`, { method: 'POST' });
    // ... and this tab stops reading.
    if (busyRef.current) stop();
  }

  async function switchTo(messageId: string | null) {
    if (!messageId || busy) return;
    const res = await fetch(`/api/threads/${id}/version`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messageId }),
    });
    if (!res.ok) return;
    const loaded: { messages: UIMessage[]; info: Info } = await res.json();
    setMessages(loaded.messages);
    setInfo(loaded.info);
  }

  function saveEdit() {
    if (!editing || !editing.text.trim()) return;
    const index = messages.findIndex((m) => m.id === editing.id);
    // An edited question is a new message (a new id) after the same parent: a sibling of
    // the original, which stays readable as another version.
    setMessages(messages.slice(0, index));
    void sendMessage({ text: editing.text });
    setEditing(null);
  }

  return (
    <>
      <div className="chat-header">
        <h1 data-testid="chat-title">{title || 'New chat'}</h1>
        <nav>
          <a href={`/api/threads/${id}/export?format=markdown`} download>
            Export Markdown
          </a>
          <a href={`/api/threads/${id}/export?format=json`} download>
            Export JSON
          </a>
        </nav>
      </div>
      <div className="messages" data-testid="messages">
        {messages.length === 0 && <p className="empty">Ask anything. The mock model answers offline.</p>}
        {messages.map((message, index) => {
          const meta = info[message.id];
          const versions = meta?.versions;
          const isLast = index === messages.length - 1;
          const stored = meta?.status;
          const writing = (busy && isLast && message.role === 'assistant') || stored === 'streaming';
          return (
            <div
              key={message.id}
              className={`message ${message.role}`}
              data-testid="message"
              data-role={message.role}
              data-status={writing ? 'streaming' : (stored ?? 'complete')}
              data-message-id={message.id}
            >
              {editing?.id === message.id ? (
                <div className="edit">
                  <textarea
                    aria-label="Edit message"
                    value={editing.text}
                    onChange={(e) => setEditing({ id: message.id, text: e.target.value })}
                    rows={3}
                  />
                  <div>
                    <button className="primary" onClick={saveEdit}>
                      Save and send
                    </button>{' '}
                    <button onClick={() => setEditing(null)}>Cancel</button>
                  </div>
                </div>
              ) : (
                message.parts.map((part, i) =>
                  part.type === 'text' ? <p key={i}>{part.text}</p> : null,
                )
              )}
              <div className="meta">
                {versions && versions.ids.length > 1 && (
                  <span data-testid="versions">
                    <button aria-label="Previous version" disabled={!versions.previous || busy} onClick={() => switchTo(versions.previous)}>
                      ‹
                    </button>{' '}
                    <span data-testid="version-label">
                      {versions.index + 1} / {versions.ids.length}
                    </span>{' '}
                    <button aria-label="Next version" disabled={!versions.next || busy} onClick={() => switchTo(versions.next)}>
                      ›
                    </button>
                  </span>
                )}
                {writing && <span className="badge">writing…</span>}
                {stored === 'aborted' && <span className="badge aborted">stopped</span>}
                {stored === 'error' && <span className="badge aborted">failed</span>}
                {message.role === 'user' && !busy && !following && editing === null && (
                  <button onClick={() => setEditing({ id: message.id, text: textOf(message) })}>Edit</button>
                )}
                {message.role === 'assistant' && isLast && !busy && !following && (
                  <button onClick={() => regenerate()}>Regenerate</button>
                )}
              </div>
            </div>
          );
        })}
        {error && <p className="badge aborted">Something went wrong: {error.message}</p>}
        <div ref={bottom} />
      </div>
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          if (!input.trim() || busy || following) return;
          void sendMessage({ text: input });
          setInput('');
        }}
      >
        <input aria-label="Message" placeholder="Message" value={input} onChange={(e) => setInput(e.target.value)} />
        {busy || following ? (
          <button type="button" onClick={stopReply}>
            Stop
          </button>
        ) : (
          <button className="primary" type="submit">
            Send
          </button>
        )}
      </form>
    </>
  );
}
