import { NewChatButton } from '@/components/sidebar';

export default function NoChat() {
  return (
    <div className="empty">
      <p>Pick a chat on the left, or start one.</p>
      <NewChatButton />
    </div>
  );
}
