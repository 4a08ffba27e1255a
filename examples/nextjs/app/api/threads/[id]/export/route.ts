// Export: ?format=markdown (the active path) or json (every branch), as a download.
import { chatHistory, notFoundOr, signInFirst } from '@/lib/chat-history';

export const dynamic = 'force-dynamic';

export async function GET(req: Request, { params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const history = await chatHistory();
  if (!history) return signInFirst();
  const markdown = new URL(req.url).searchParams.get('format') === 'markdown';
  try {
    const body = markdown
      ? await history.exportThreadMarkdown(id)
      : JSON.stringify(await history.exportThread(id), null, 2);
    return new Response(body, {
      headers: {
        'content-type': markdown ? 'text/markdown; charset=utf-8' : 'application/json',
        'content-disposition': `attachment; filename="chat-${id}.${markdown ? 'md' : 'json'}"`,
      },
    });
  } catch (e) {
    return notFoundOr(e);
  }
}
