import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { PushSettings } from "../../companion-services/notifications/config.ts";
import { PushQueueRepository } from "../../companion-services/notifications/delivery/queue.repository.ts";
import {
  PushDeliveryWorker,
  type PushWorkerOptions,
} from "../../companion-services/notifications/delivery/worker.ts";
import type { NotificationKind, NotificationsTables } from "../../companion-services/notifications/tables.ts";
import { openFresh, silentLogger } from "../platform/helpers.ts";

export type Db = Kysely<NotificationsTables>;
export type Received = { pushkey: string; body: { notification: Record<string, unknown> }; at: number };
export type Reply = { status: number; body?: unknown } | "hang";

/**
 * A real push gateway on 127.0.0.1: records every POST body, answers what `reply` says (200
 * `{"rejected":[]}` by default), or never answers ("hang").
 */
export class FakeGateway {
  readonly received: Received[] = [];
  reply: (r: Received) => Reply = () => ({ status: 200, body: { rejected: [] } });
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeGateway> {
    let gw: FakeGateway | null = null;
    const server = createServer((req, res) => {
      void readJson(req).then((body) => {
        const devices = body.notification.devices as { pushkey: string }[];
        const r: Received = { pushkey: devices[0]?.pushkey ?? "", body, at: Date.now() };
        gw?.received.push(r);
        const reply = gw?.reply(r) ?? { status: 500 };
        if (reply === "hang") return;
        res.writeHead(reply.status, { "content-type": "application/json" });
        res.end(JSON.stringify(reply.body ?? {}));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    gw = new FakeGateway(server, `http://127.0.0.1:${port}/_matrix/push/v1/notify`);
    return gw;
  }

  for(pushkey: string): Received[] {
    return this.received.filter((r) => r.pushkey === pushkey);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

async function readJson(req: IncomingMessage): Promise<{ notification: Record<string, unknown> }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

/**
 * The notifications database on fresh storage. `second` is another connection pool on it, as
 * another process would have: on PostgreSQL a pool of its own, on PGlite (one connection) the same handle.
 */
export async function openDb(): Promise<{ db: Db; second: Db; close(): Promise<void> }> {
  const env = await openFresh(["notifications"]);
  const h = env.databases.get<NotificationsTables>("notifications");
  const second = h.url
    ? new Kysely<NotificationsTables>({
        dialect: new PostgresDialect({
          pool: new pg.Pool({ connectionString: h.url, max: 3, options: `-c search_path=${h.schema}` }),
        }),
      })
    : h.db;
  return {
    db: h.db,
    second,
    async close() {
      if (second !== h.db) await second.destroy();
      await env.close();
    },
  };
}

export const settings = (over: Partial<PushSettings> = {}): PushSettings => ({
  timeoutMs: 1_000,
  backoffMs: 100,
  backoffMaxMs: 400,
  giveUpMs: 60_000,
  concurrency: 4,
  leaseMs: 3_000,
  dedupWindowMs: 60_000,
  logRetentionMs: 3_600_000,
  ...over,
});

export function worker(db: Db, over: Partial<PushSettings> = {}, opts: Partial<PushWorkerOptions> = {}) {
  return new PushDeliveryWorker(db, settings(over), silentLogger, {
    badgeOf: async () => 1,
    pollMs: 50,
    ...opts,
  });
}

export type Pusher = { userId: string; appId: string; pushkey: string };

export async function addPusher(
  db: Db,
  gw: FakeGateway,
  data: Record<string, unknown> = {},
): Promise<Pusher> {
  const p = {
    userId: `@u${randomUUID().slice(0, 8)}:test.nova`,
    appId: "com.example.app",
    pushkey: randomUUID(),
  };
  await db
    .insertInto("push_tokens")
    .values({
      user_id: p.userId,
      app_id: p.appId,
      pushkey: p.pushkey,
      kind: "http",
      device_id: "DEV",
      app_display_name: "Example",
      device_display_name: "Phone",
      profile_tag: null,
      lang: "en",
      data: { url: gw.url, ...data },
      created_at: 1_700_000_000_000,
      failing_since: null,
    })
    .execute();
  return p;
}

/** A room message notification for the pusher's user; returns its id and event id. */
export async function addMessage(db: Db, p: Pusher, n: number): Promise<{ id: string; eventId: string }> {
  const id = randomUUID();
  const eventId = `$ev${n}-${id.slice(0, 6)}`;
  await db
    .insertInto("notifications")
    .values({
      id,
      user_id: p.userId,
      kind: "messages",
      source_event_id: null,
      room_id: "!room:test.nova",
      event_id: eventId,
      stream_position: n,
      // node-postgres would send a JS array as a Postgres array, not as JSON.
      actions: jsonb(["notify", { set_tweak: "sound", value: "default" }]),
      body: {
        event_id: eventId,
        room_id: "!room:test.nova",
        type: "m.room.message",
        sender: "@bob:test.nova",
        origin_server_ts: 1,
        content: { msgtype: "m.text", body: `message ${n}` },
        sender_display_name: "Bob",
        room_name: "Lounge",
      },
      read_at: null,
      created_at: Date.now(),
    })
    .execute();
  return { id, eventId };
}

const jsonb = (v: unknown[]) => sql<unknown[]>`${JSON.stringify(v)}::jsonb`;

export async function addSocial(db: Db, p: Pusher, kind: NotificationKind, body: Record<string, unknown>) {
  const id = randomUUID();
  await db
    .insertInto("notifications")
    .values({
      id,
      user_id: p.userId,
      kind,
      source_event_id: null,
      room_id: null,
      event_id: null,
      stream_position: null,
      actions: null,
      body,
      read_at: null,
      created_at: Date.now(),
    })
    .execute();
  return id;
}

export async function enqueue(db: Db, p: Pusher, notificationIds: (string | null)[]): Promise<void> {
  await new PushQueueRepository(db).enqueue(
    db,
    notificationIds.map((notificationId) => ({ ...p, notificationId })),
  );
}

export const logsOf = (db: Db, p: Pusher) =>
  db.selectFrom("push_delivery_logs").selectAll().where("pushkey", "=", p.pushkey).orderBy("id").execute();

export const queuedFor = (db: Db, p: Pusher) =>
  db.selectFrom("push_queue").selectAll().where("pushkey", "=", p.pushkey).orderBy("id").execute();

/**
 * A suite's database, gateway and workers: registers the hooks (workers stopped, the queue
 * emptied and the gateway reset after each test) and hands out the live handles.
 */
export function deliveryHarness(): {
  readonly db: Db;
  readonly second: Db;
  readonly gw: FakeGateway;
  started(w: PushDeliveryWorker): PushDeliveryWorker;
} {
  let opened: Awaited<ReturnType<typeof openDb>> | null = null;
  let gateway: FakeGateway | null = null;
  const running: PushDeliveryWorker[] = [];
  beforeAll(async () => {
    opened = await openDb();
    gateway = await FakeGateway.start();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.stop()));
    // A test's leftover retries must not reach the next test's gateway.
    await opened!.db.deleteFrom("push_queue").execute();
    gateway!.reply = () => ({ status: 200, body: { rejected: [] } });
  });
  afterAll(async () => {
    await gateway?.close();
    await opened?.close();
  });
  return {
    get db() {
      return opened!.db;
    },
    get second() {
      return opened!.second;
    },
    get gw() {
      return gateway!;
    },
    started(w) {
      running.push(w);
      w.start();
      return w;
    },
  };
}
