'use client';

// The history sidebar: chats newest first (pinned ones on top), pin, archive (and the
// archive itself), search over every message, "New chat"; live through the events feed.
import type { Thread } from '@chat-history/client';
import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import { Fragment, useEffect, useState } from 'react';

import { authClient } from '@/lib/auth-client';

import { useCoalesced, useLiveEvents } from './live';

interface Hit {
  threadId: string;
  title: string;
  messageId: string;
  snippet: string;
}

/** A search snippet with its ⟦matches⟧ marked. */
function Snippet({ text }: { text: string }) {
  return (
    <>
      {text.split(/⟦|⟧/).map((piece, i) => (i % 2 === 1 ? <mark key={i}>{piece}</mark> : <Fragment key={i}>{piece}</Fragment>))}
    </>
  );
}

export function NewChatButton() {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  return (
    <button
      className="primary"
      disabled={busy}
      onClick={async () => {
        setBusy(true);
        const res = await fetch('/api/threads', { method: 'POST' });
        setBusy(false);
        if (res.ok) router.push(`/chat/${(await res.json()).thread.id}`);
      }}
    >
      New chat
    </button>
  );
}

export function Sidebar({ userEmail }: { userEmail: string }) {
  const router = useRouter();
  const pathname = usePathname();
  const [threads, setThreads] = useState<Thread[]>([]);
  const [archived, setArchived] = useState(false);
  const [query, setQuery] = useState('');
  const [hits, setHits] = useState<Hit[] | null>(null);

  const load = useCoalesced(async () => {
    const res = await fetch(`/api/threads?archived=${archived}`);
    if (res.ok) setThreads((await res.json()).threads);
  });
  useEffect(() => {
    void load();
  }, [archived, load]);
  useLiveEvents((event) => {
    if (event.type.startsWith('thread.') || event.type === 'reset') void load();
  });

  async function patch(id: string, body: { pinned?: boolean; archived?: boolean }) {
    await fetch(`/api/threads/${id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    void load();
  }

  async function search(e: React.FormEvent) {
    e.preventDefault();
    if (!query.trim()) return setHits(null);
    const res = await fetch(`/api/search?q=${encodeURIComponent(query)}`);
    if (res.ok) setHits((await res.json()).hits);
  }

  // Newest first, as the service lists them; pinned ones on top.
  const pinned = threads.filter((t) => t.pinned);
  const others = threads.filter((t) => !t.pinned);
  const item = (t: Thread) => (
    <li key={t.id} className={`thread${pathname === `/chat/${t.id}` ? ' active' : ''}`} data-testid="thread" data-thread-id={t.id}>
      <Link href={`/chat/${t.id}`}>{t.title || 'New chat'}</Link>
      <button title={t.pinned ? 'Unpin' : 'Pin'} aria-label={t.pinned ? 'Unpin' : 'Pin'} onClick={() => patch(t.id, { pinned: !t.pinned })}>
        {t.pinned ? 'Unpin' : 'Pin'}
      </button>
      <button
        title={t.archived ? 'Unarchive' : 'Archive'}
        aria-label={t.archived ? 'Unarchive' : 'Archive'}
        onClick={() => patch(t.id, { archived: !t.archived })}
      >
        {t.archived ? 'Restore' : 'Archive'}
      </button>
    </li>
  );

  return (
    <aside className="sidebar">
      <header>
        <NewChatButton />
        <button onClick={() => setArchived(!archived)}>{archived ? 'Chats' : 'Archived'}</button>
      </header>
      <form onSubmit={search}>
        <input
          aria-label="Search"
          placeholder="Search all chats"
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            if (!e.target.value) setHits(null);
          }}
          style={{ width: '100%' }}
        />
      </form>
      {hits && (
        <ul className="hits" data-testid="search-results">
          {hits.length === 0 && <li className="hit">No match</li>}
          {hits.map((hit) => (
            <li key={hit.messageId} className="hit" data-testid="search-hit">
              <Link href={`/chat/${hit.threadId}`}>
                <small>{hit.title || 'New chat'}</small>
                <Snippet text={hit.snippet} />
              </Link>
            </li>
          ))}
        </ul>
      )}
      <ul className="threads" data-testid="threads">
        {archived && <li className="section">Archived</li>}
        {pinned.length > 0 && <li className="section">Pinned</li>}
        {pinned.map(item)}
        {pinned.length > 0 && others.length > 0 && <li className="section">Recent</li>}
        {others.map(item)}
      </ul>
      <div className="user">
        <span>{userEmail}</span>
        <button
          onClick={async () => {
            await authClient.signOut();
            router.push('/sign-in');
          }}
        >
          Sign out
        </button>
      </div>
    </aside>
  );
}
