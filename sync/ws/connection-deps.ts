import type { AuthInfo } from "../../companion-services/platform/http/router.ts";
import type { DispatchCall } from "../../companion-services/platform/http/server.ts";
import type { Logger } from "../../companion-services/platform/logger.ts";
import type { SyncRequest, SyncResponse } from "../provider.ts";
import type { SlidingSyncPort } from "../sliding-port.ts";
import type { SyncToken } from "../token.ts";

/** The part of a uWS WebSocket a connection uses. */
export type SocketLike = {
  send(text: string): number;
  getBufferedAmount(): number;
  end(code: number, reason: string): void;
};

/**
 * What a connection needs from the homeserver; wired once by the transport. `Conn` is the
 * connection class (sync/ws/connection.ts), a parameter so that this file does not import it.
 */
export type ConnectionDepsOf<Conn> = {
  logger: Logger;
  authenticate(token: string): Promise<AuthInfo>;
  currentToken(): SyncToken;
  compute(
    req: Pick<SyncRequest, "userId" | "deviceId" | "since" | "to" | "fullState" | "filter">,
  ): Promise<SyncResponse>;
  acknowledge(userId: string, deviceId: string, position: number): Promise<void>;
  /** A standing registration with the Notifier (see Notifier.subscribe). */
  subscribe(
    userId: string,
    roomIds: Iterable<string>,
    target: { wake(): void },
  ): { setRooms(roomIds: Iterable<string>): void; close(): void };
  roomsOf(userId: string): Promise<string[]>;
  /** A filter id or inline filter JSON → the filter the engine understands. */
  resolveFilter(
    userId: string,
    filter: string | Record<string, unknown> | undefined,
  ): Promise<Record<string, unknown>>;
  dispatch(call: DispatchCall): Promise<{ status: number; body: unknown }>;
  onAuthenticated(conn: Conn): void;
  /**
   * A subscription holds the user's presence (as /sync's set_presence does, but for as long as
   * the socket is subscribed); the returned function releases it.
   */
  holdPresence?(userId: string, presence: "online" | "offline" | "unavailable"): () => void;
  /** Simplified sliding sync (MSC4186) for `sliding_sync` frames; absent: they are unrecognized. */
  slidingSync?: SlidingSyncPort;
  /** Delivered-delta counter (metrics, benchmark). */
  onDelta?(conn: Conn, response: SyncResponse): void;
};
