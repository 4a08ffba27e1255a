import { redirect } from 'next/navigation';

import { currentSession } from '@/lib/chat-history';

export const dynamic = 'force-dynamic';

export default async function Home() {
  redirect((await currentSession()) ? '/chat' : '/sign-in');
}
