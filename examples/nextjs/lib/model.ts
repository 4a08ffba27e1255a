// The language model: a mock (`ai/test`) that streams canned replies, so that the app runs
// offline and its tests are deterministic; a real one when AI_GATEWAY_API_KEY is set
// (the AI SDK's gateway, model CHAT_MODEL, default openai/gpt-5-mini).
import type { LanguageModel } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';

/** Milliseconds between two streamed words of the mock (MOCK_CHUNK_DELAY_MS, default 60). */
function chunkDelay(): number {
  const value = Number(process.env.MOCK_CHUNK_DELAY_MS ?? 60);
  return Number.isFinite(value) && value >= 0 ? value : 60;
}

const FILLER =
  'This is a canned reply from the mock model, streamed word by word so that you can watch ' +
  'it being written, stop it, reload the page in the middle, or follow it from another tab.';

/**
 * The canned reply to `prompt`: it quotes the question; a question with the word "long"
 * gets a reply ten times as long (for stop and reload mid-reply).
 */
export function cannedReply(prompt: string, attempt: number): string {
  const head = `You said: "${prompt.trim().slice(0, 200)}".${attempt > 0 ? ` (Version ${attempt + 1}.)` : ''}`;
  const times = /\blong\b/i.test(prompt) ? 10 : 1;
  return [head, ...Array.from({ length: times }, () => FILLER)].join(' ');
}

function mockModel(reply: string): LanguageModel {
  const words = reply.split(/(?<= )/);
  const delay = chunkDelay();
  return new MockLanguageModelV3({
    doStream: async ({ abortSignal }) => ({
      stream: new ReadableStream({
        async start(controller) {
          const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
          controller.enqueue({ type: 'stream-start', warnings: [] });
          controller.enqueue({ type: 'text-start', id: 't0' });
          for (const delta of words) {
            if (abortSignal?.aborted) break;
            await sleep(delay);
            controller.enqueue({ type: 'text-delta', id: 't0', delta });
          }
          controller.enqueue({ type: 'text-end', id: 't0' });
          controller.enqueue({
            type: 'finish',
            finishReason: { unified: 'stop', raw: 'stop' },
            usage: {
              inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
              outputTokens: { total: words.length, text: words.length, reasoning: 0 },
            },
          });
          controller.close();
        },
      }),
    }),
  });
}

/** The model for one reply. `prompt`: the user's question; `attempt`: how many replies it has had. */
export function chatModel(prompt: string, attempt: number): LanguageModel {
  if (process.env.AI_GATEWAY_API_KEY) return process.env.CHAT_MODEL ?? 'openai/gpt-5-mini';
  return mockModel(cannedReply(prompt, attempt));
}
