/**
 * What the WebSocket needs of simplified sliding sync (MSC4186; implemented by server/sliding,
 * wired in server/app.ts): one request as `POST .../simplified_msc3575/sync` would make it. The
 * body is the MSC4186 request body as the client sent it; the port validates it (a Matrix 400
 * error when it does not fit) and answers with the response, `pos` included, once recorded.
 */
export type SlidingSyncPort = (req: {
  userId: string;
  deviceId: string;
  body: Record<string, unknown>;
  pos: string | null;
  /** How long to wait for data against `pos` before answering with what there is. */
  timeoutMs: number;
  /**
   * The to_device position the client confirmed it processed: to-device messages are deleted up
   * to it, not up to the body's `to_device.since`. Read at each computation, so an
   * acknowledgement that arrives during a long wait counts for the response that ends it.
   */
  toDeviceAcknowledged: () => string;
  /** Answers at once (with what there is) when this resolves. */
  aborted: Promise<void>;
}) => Promise<Record<string, unknown> & { pos: string }>;
