// Answers useChat: saves the user's message, then streams the reply and saves it while it
// streams (status "streaming"), and once more when it ends ("complete", "aborted", "error").
import { finalStatus, generateUuid } from '@chat-history/client';
import { convertToModelMessages, streamText, validateUIMessages, type UIMessage } from 'ai';

import { chatHistory, notFoundOr, signInFirst } from '@/lib/chat-history';
import { chatModel } from '@/lib/model';
import { replies } from '@/lib/replies';

export const dynamic = 'force-dynamic';

function textOf(message: UIMessage): string {
  return message.parts.map((part) => (part.type === 'text' ? part.text : '')).join(' ');
}

export async function POST(req: Request) {
  const history = await chatHistory();
  if (!history) return signInFirst();
  const { id: threadId, message, parentId }: { id: string; message: UIMessage; parentId: string | null } =
    await req.json();

  // 1. The user's message, saved as complete under parentId (a regenerate() sends a stored
  //    one again: the new reply becomes a sibling of the earlier ones). An edited question
  //    arrives with a new id and the edited message's parent: a sibling of it.
  let messages: UIMessage[];
  try {
    messages = await history.saveUserTurn(threadId, message, parentId, {
      validate: (messages) => validateUIMessages({ messages }),
    });
  } catch (e) {
    return notFoundOr(e);
  }

  // The first question names the chat.
  const prompt = textOf(message);
  if (parentId === null) {
    const { thread } = await history.getThread(threadId);
    if (thread.title === '') await history.renameThread(threadId, prompt.trim().slice(0, 60) || 'New chat');
  }
  // How many replies this question already has: the mock numbers its versions.
  const tree = await history.loadTree(threadId);
  const attempt = tree.filter((m) => m.parent_id === message.id && m.role === 'assistant').length;

  // 2. The reply in flight: its id on the thread (a reloaded page sees it), and a way to
  //    stop it that does not depend on this request (app/api/chat/[id]/stop).
  const streamId = generateUuid();
  await history.setActiveStream(threadId, streamId);
  const controller = new AbortController();
  replies.get(threadId)?.controller.abort(); // one reply at a time per thread
  replies.set(threadId, { streamId, controller });
  const reply = history.createReplySaver(threadId, {
    parentId: message.id,
    throttleMs: 300,
    onError: (e) => console.error('chat-history: saving the reply failed', e),
  });

  const result = streamText({
    model: chatModel(prompt, attempt),
    messages: await convertToModelMessages(messages),
    // Not req.signal: a reload (or a closed tab) must not end the reply; the other tabs and
    // the reloaded page follow it through the events feed. Stop has its own endpoint.
    abortSignal: controller.signal,
  });

  return result.toUIMessageStreamResponse({
    originalMessages: messages,
    generateMessageId: generateUuid, // the service's ids are UUIDs
    // A copy of the stream, read to its end here whether or not a browser is attached:
    // the reply is saved as it grows ...
    consumeSseStream: ({ stream }) => reply.follow(stream),
    // ... and once more when it ends.
    onFinish: async (event) => {
      try {
        await reply.finish(event.responseMessage, finalStatus(event));
        await history.clearActiveStream(threadId, streamId);
      } catch (e) {
        console.error('chat-history: saving the final reply failed', e);
      } finally {
        if (replies.get(threadId)?.streamId === streamId) replies.delete(threadId);
      }
    },
  });
}
