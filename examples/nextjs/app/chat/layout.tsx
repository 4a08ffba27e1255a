import { redirect } from 'next/navigation';
import type { ReactNode } from 'react';

import { LiveEvents } from '@/components/live';
import { Sidebar } from '@/components/sidebar';
import { currentSession } from '@/lib/chat-history';

export const dynamic = 'force-dynamic';

export default async function ChatLayout({ children }: { children: ReactNode }) {
  const session = await currentSession();
  if (!session) redirect('/sign-in');
  return (
    <div className="shell">
      <LiveEvents />
      <Sidebar userEmail={session.user.email} />
      <main className="main">{children}</main>
    </div>
  );
}
