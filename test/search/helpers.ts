import { randomUUID } from "node:crypto";
import { toRecord } from "../../companion-services/platform/envelope.ts";
import type { EventBus } from "../../companion-services/platform/event-bus.ts";
import type { TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

export type User = { userId: string; accessToken: string };

let txn = 0;

export async function createRoom(
  t: TestServer,
  u: User,
  body: Record<string, unknown> = {},
): Promise<string> {
  const r = await t.call("POST", "/_matrix/client/v3/createRoom", { token: u.accessToken, body });
  if (r.status !== 200) throw new Error(`createRoom: ${JSON.stringify(r.body)}`);
  return r.body.room_id as string;
}

export async function send(t: TestServer, u: User, roomId: string, body: string, type = "m.room.message") {
  const content =
    type === "m.room.message" ? { msgtype: "m.text", body } : { algorithm: "x", ciphertext: body };
  const r = await t.call(
    "PUT",
    `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/${type}/t${++txn}`,
    { token: u.accessToken, body: content },
  );
  if (r.status !== 200) throw new Error(`send: ${JSON.stringify(r.body)}`);
  return r.body.event_id as string;
}

export async function state(t: TestServer, u: User, roomId: string, type: string, content: unknown) {
  const r = await t.call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${type}/`, {
    token: u.accessToken,
    body: content,
  });
  if (r.status !== 200) throw new Error(`state: ${JSON.stringify(r.body)}`);
  return r.body.event_id as string;
}

export async function join(t: TestServer, u: User, roomId: string) {
  const r = await t.call("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {
    token: u.accessToken,
    body: {},
  });
  if (r.status !== 200) throw new Error(`join: ${JSON.stringify(r.body)}`);
}

export type RoomEventsAnswer = {
  count: number;
  highlights: string[];
  results: { rank: number; result: Record<string, unknown>; context?: Record<string, unknown> }[];
  next_batch?: string;
  groups?: Record<string, Record<string, { results: string[]; order: number }>>;
  state?: Record<string, unknown[]>;
};

export async function search(
  t: TestServer,
  u: User,
  criteria: Record<string, unknown>,
  nextBatch?: string,
): Promise<{ status: number; body: Record<string, unknown>; events: RoomEventsAnswer }> {
  const q = nextBatch ? `?next_batch=${encodeURIComponent(nextBatch)}` : "";
  const r = await t.call("POST", `/_matrix/client/v3/search${q}`, {
    token: u.accessToken,
    body: { search_categories: { room_events: criteria } },
  });
  const cats = r.body.search_categories as { room_events?: RoomEventsAnswer } | undefined;
  return { ...r, events: cats?.room_events ?? { count: 0, highlights: [], results: [] } };
}

/** Waits until the term finds `n` results for the user (the index is fed asynchronously). */
export function searchUntil(
  t: TestServer,
  u: User,
  term: string,
  n: number,
  extra: Record<string, unknown> = {},
) {
  return waitFor(
    `${n} results for "${term}"`,
    async () => {
      const r = await search(t, u, { search_term: term, ...extra });
      return r.events.count === n ? r.events : null;
    },
    10_000,
  );
}

/** Publishes a content event on the bus as content's outbox would. */
export async function publishContent(bus: EventBus, eventType: string, payload: { post_id: string }) {
  await bus.publish([
    toRecord({
      id: randomUUID(),
      aggregate_type: "post",
      aggregate_id: payload.post_id,
      event_type: eventType,
      payload,
      metadata: {},
      created_at: Date.now(),
    }),
  ]);
}

export function post(id: string, author: string, content: string, extra: Record<string, unknown> = {}) {
  return {
    post_id: id,
    author_id: author,
    title: null,
    content,
    visibility: "public",
    language: "en",
    images: [],
    videos: [],
    shared_post_id: null,
    created_at: Date.now(),
    updated_at: Date.now(),
    ...extra,
  };
}
