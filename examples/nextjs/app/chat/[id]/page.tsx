import { notFound, redirect } from 'next/navigation';

import { chatHistory } from '@/lib/chat-history';

import { Chat } from './chat';

export const dynamic = 'force-dynamic';

export default async function ChatPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const history = await chatHistory();
  if (!history) redirect('/sign-in');
  let loaded;
  try {
    // The thread, and its active path as UIMessages with each one's status and versions.
    const [{ thread }, conversation] = await Promise.all([history.getThread(id), history.loadConversation(id)]);
    loaded = { thread, ...conversation };
  } catch (e) {
    // Not a UUID (400), or not a thread of this user (404: someone else's looks the same).
    const status = (e as { status?: number }).status;
    if (status === 400 || status === 404) notFound();
    throw e;
  }
  return (
    <Chat
      key={id}
      id={id}
      initialTitle={loaded.thread.title}
      initialMessages={loaded.messages}
      initialInfo={loaded.info}
    />
  );
}
