// @chat-history/client: a typed TypeScript client of the chat-history service.
//
//   const history = createChatHistoryClient({ baseUrl, token });
//   const thread = await history.createThread({ title: "Trip" });
//   const messages = await history.loadChat(thread.id); // UIMessage[] for useChat
//
// README.md shows it in a Next.js app with the AI SDK 6.

export {
  createChatHistoryClient,
  type ChatHistoryClient,
  type ChatHistoryClientOptions,
  type Conversation,
  type IfMatch,
  type ImportFile,
  type ListMessagesQuery,
  type ListThreadsQuery,
  type MessageWithETag,
  type PathMessageInfo,
  type PathOptions,
  type ReplySaver,
  type SaveMessageOptions,
  type SavedMessage,
  type ThreadWithETag,
} from "./client.js";
export {
  ChatHistoryError,
  isChatHistoryError,
  type ErrorAnswer,
  type Problem,
  type ProblemCode,
} from "./errors.js";
export {
  EVENT_TYPES,
  toChatHistoryEvent,
  type ChatHistoryEvent,
  type ChatHistoryEventType,
  type EventSourceConstructor,
  type EventSourceLike,
  type SubscribeOptions,
  type Subscription,
} from "./events.js";
export {
  canonicalJson,
  finalStatus,
  generateUuid,
  messageVersions,
  toUIMessage,
  uiMessageChunksFromSse,
  type MessageVersions,
} from "./ai-sdk.js";
export { SseParser, type SseEvent, type SseHandlers } from "./sse.js";
export type * from "./types.js";
export type { components, operations, paths } from "./schema.js";
