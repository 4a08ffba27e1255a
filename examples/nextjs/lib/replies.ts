// The replies this server process is generating, by thread, so that the stop endpoint can
// end one that another request started (the request that started it may be gone: the
// browser reloaded). In memory: with several app instances, send stop to the one that
// generates (or put the flag in Redis). globalThis: route handlers are separate bundles.
export interface Reply {
  streamId: string;
  controller: AbortController;
}

const globalForReplies = globalThis as unknown as { chatReplies?: Map<string, Reply> };
export const replies: Map<string, Reply> = (globalForReplies.chatReplies ??= new Map());
