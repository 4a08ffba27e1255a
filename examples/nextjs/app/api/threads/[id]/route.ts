// One chat: GET its active path (what the chat view shows: UIMessages, and each message's
// status and "< 2 / 3 >" versions), PATCH pin / archive / rename, DELETE.
import { chatHistory, notFoundOr, signInFirst } from '@/lib/chat-history';

export const dynamic = 'force-dynamic';

type Params = { params: Promise<{ id: string }> };

export async function GET(_req: Request, { params }: Params) {
  const { id } = await params;
  const history = await chatHistory();
  if (!history) return signInFirst();
  try {
    const [{ thread }, conversation] = await Promise.all([history.getThread(id), history.loadConversation(id)]);
    return Response.json({ thread, ...conversation });
  } catch (e) {
    return notFoundOr(e);
  }
}

export async function PATCH(req: Request, { params }: Params) {
  const { id } = await params;
  const history = await chatHistory();
  if (!history) return signInFirst();
  const body: { pinned?: boolean; archived?: boolean; title?: string } = await req.json();
  const patch: { pinned?: boolean; archived?: boolean; title?: string } = {};
  if (typeof body.pinned === 'boolean') patch.pinned = body.pinned;
  if (typeof body.archived === 'boolean') patch.archived = body.archived;
  if (typeof body.title === 'string') patch.title = body.title.slice(0, 512);
  try {
    const { thread } = await history.updateThread(id, patch);
    return Response.json({ thread });
  } catch (e) {
    return notFoundOr(e);
  }
}

export async function DELETE(_req: Request, { params }: Params) {
  const { id } = await params;
  const history = await chatHistory();
  if (!history) return signInFirst();
  try {
    await history.deleteThread(id);
    return new Response(null, { status: 204 });
  } catch (e) {
    return notFoundOr(e);
  }
}
