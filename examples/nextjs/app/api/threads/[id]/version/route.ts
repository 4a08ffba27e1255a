// "< 2 / 3 >": makes another version of a message (and the newest replies below it) the
// thread's active path.
import { chatHistory, notFoundOr, signInFirst } from '@/lib/chat-history';

export const dynamic = 'force-dynamic';

export async function POST(req: Request, { params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const history = await chatHistory();
  if (!history) return signInFirst();
  const { messageId }: { messageId: string } = await req.json();
  try {
    await history.switchToVersion(id, messageId);
    return Response.json(await history.loadConversation(id));
  } catch (e) {
    return notFoundOr(e);
  }
}
