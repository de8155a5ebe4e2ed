/** Computes `unread_notifications` for a user's joined room as of a stream position. */
export interface UnreadCounter {
  count(
    userId: string,
    roomId: string,
    upTo: number,
  ): Promise<{ notification_count: number; highlight_count: number }>;
}
