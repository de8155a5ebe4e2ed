/** A presence state as /sync's `set_presence` and the WebSocket subscription carry it. */
export type SyncPresenceState = "online" | "offline" | "unavailable";

/**
 * What sync needs of presence (implemented by server/client/presence.ts, wired in server/app.ts):
 * a /sync marks its user as syncing, and an open WebSocket subscription holds the user's presence.
 */
export interface PresencePort {
  /** A /sync with `set_presence`: keeps the user at that state while they sync. */
  syncing(userId: string, presence: SyncPresenceState): Promise<void>;
  /** Holds the user at `presence` while a socket is subscribed; the returned function releases it. */
  hold(userId: string, presence: SyncPresenceState): () => void;
}
