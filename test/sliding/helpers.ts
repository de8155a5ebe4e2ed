import { expect } from "vitest";
import type { TestServer } from "../helpers/server.ts";
import { SS } from "./element-x.ts";

export { roomList, SS } from "./element-x.ts";

export type Who = { userId: string; deviceId: string; accessToken: string };
export const V3 = "/_matrix/client/v3";

/** Calls the sliding sync endpoint; `pos` and `timeout` go in the query string, as ruma sends them. */
export async function slide(
  s: TestServer,
  who: Who,
  body: Record<string, unknown>,
  q: { pos?: string; timeout?: number } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const params = new URLSearchParams();
  if (q.pos !== undefined) params.set("pos", q.pos);
  if (q.timeout !== undefined) params.set("timeout", String(q.timeout));
  const qs = params.toString();
  return s.call("POST", `${SS}${qs ? `?${qs}` : ""}`, { token: who.accessToken, body });
}

/** The same, expecting 200. */
export async function slideOk(
  s: TestServer,
  who: Who,
  body: Record<string, unknown>,
  q: { pos?: string; timeout?: number } = {},
): Promise<SlidingResponse> {
  const r = await slide(s, who, body, q);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as unknown as SlidingResponse;
}

export type SlidingRoom = Record<string, unknown> & {
  timeline?: { event_id: string; type: string; sender: string; content: Record<string, unknown> }[];
  required_state?: { type: string; state_key: string; content: Record<string, unknown> }[];
  invite_state?: { type: string; state_key: string; sender: string }[];
};

export type SlidingResponse = {
  pos: string;
  txn_id?: string;
  lists: Record<string, { count: number }>;
  rooms: Record<string, SlidingRoom>;
  extensions: Record<string, Record<string, unknown>>;
};

export async function createRoom(
  s: TestServer,
  who: Who,
  body: Record<string, unknown> = {},
): Promise<string> {
  const r = await s.call("POST", `${V3}/createRoom`, { token: who.accessToken, body });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.room_id as string;
}

let txn = 0;
export async function send(s: TestServer, who: Who, roomId: string, body: string, type = "m.room.message") {
  const r = await s.call(
    "PUT",
    `${V3}/rooms/${encodeURIComponent(roomId)}/send/${type}/t${++txn}_${Date.now()}`,
    {
      token: who.accessToken,
      body: { msgtype: "m.text", body },
    },
  );
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.event_id as string;
}

export async function join(s: TestServer, who: Who, roomId: string): Promise<void> {
  const r = await s.call("POST", `${V3}/join/${encodeURIComponent(roomId)}`, {
    token: who.accessToken,
    body: {},
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}
