// Full-text search over every branch of every chat of the user (web-search syntax).
import { chatHistory, signInFirst } from '@/lib/chat-history';

export const dynamic = 'force-dynamic';

export async function GET(req: Request) {
  const history = await chatHistory();
  if (!history) return signInFirst();
  const q = new URL(req.url).searchParams.get('q')?.trim() ?? '';
  if (q === '') return Response.json({ hits: [] });
  const page = await history.search(q, { limit: 20 });
  return Response.json({
    hits: page.data.map((hit) => ({
      threadId: hit.thread.id,
      title: hit.thread.title,
      messageId: hit.message.id,
      snippet: hit.snippet,
    })),
  });
}
