import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type Notify = {
  notification: {
    event_id?: string;
    room_id?: string;
    type?: string | null;
    sender?: string;
    content?: Record<string, unknown>;
    counts?: { unread?: number };
    prio?: string;
    devices: {
      app_id: string;
      pushkey: string;
      data?: Record<string, unknown>;
      tweaks?: Record<string, unknown>;
    }[];
    [k: string]: unknown;
  };
};

/**
 * A push gateway (Matrix Push Gateway API) for tests: records every POST to
 * `/_matrix/push/v1/notify`, and can be told to fail (5xx), to reject pushkeys, or to go away
 * (connections refused) and come back on the same port.
 */
export class PushGateway {
  readonly received: Notify[] = [];
  /** Requests answered with an error, for retry tests. */
  failures = 0;
  status = 200;
  rejected = new Set<string>();
  private server: Server | null = null;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/_matrix/push/v1/notify`;
  }

  async start(port = 0): Promise<this> {
    const server = createServer(async (req, res) => {
      if (req.method !== "POST" || req.url !== "/_matrix/push/v1/notify") {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(await text(req)) as Notify;
      if (this.status >= 300) {
        this.failures++;
        res.writeHead(this.status, { "Content-Type": "application/json" }).end("{}");
        return;
      }
      this.received.push(body);
      const rejected = body.notification.devices.map((d) => d.pushkey).filter((k) => this.rejected.has(k));
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ rejected }));
    });
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Closes the listener: deliveries meet refused connections until start() again. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  /** Notifications (not badge-only updates) for an event id. */
  forEvent(eventId: string): Notify[] {
    return this.received.filter((n) => n.notification.event_id === eventId);
  }

  /** Badge-only updates (no event) received so far. */
  badges(): Notify[] {
    return this.received.filter((n) => !n.notification.event_id && n.notification.type == null);
  }
}

function text(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
