import { afterAll, describe, expect, it } from "vitest";
import { durableStorage } from "../helpers/database.ts";
import { startTestServer } from "../helpers/server.ts";
import { createRoom, roomList, send, slide, slideOk } from "./helpers.ts";

describe("sliding sync across a restart", () => {
  let cleanup: () => Promise<void> = async () => {};
  afterAll(async () => {
    await cleanup();
  });

  it("resumes a connection from its pos, retries included", { timeout: 120_000 }, async () => {
    const storage = await durableStorage("nova-sliding-");
    cleanup = storage.cleanup;
    const first = await startTestServer(storage.env);
    const alice = await first.register("alice");
    const room = await createRoom(first, alice, { name: "durable" });
    await send(first, alice, room, "before");
    const body = { conn_id: "main", lists: { all: roomList([0, 9]) } };
    const initial = await slideOk(first, alice, body);
    expect(initial.rooms[room]!.timeline!.map((e) => e.content.body)).toEqual(["before"]);
    await send(first, alice, room, "news");
    const answered = await slideOk(first, alice, body, { pos: initial.pos });
    await first.close();

    const second = await startTestServer(storage.env);
    try {
      // The answer to `initial.pos` was lost on the way: the retry gets it again, after the restart.
      const retried = await slideOk(second, alice, body, { pos: initial.pos });
      expect(retried).toEqual(answered);
      await send(second, alice, room, "after the restart");
      const next = await slideOk(second, alice, body, { pos: answered.pos });
      expect(next.rooms[room]!.initial).toBeUndefined();
      expect(next.rooms[room]!.timeline!.map((e) => e.content.body)).toEqual(["after the restart"]);
      const stale = await slide(second, alice, body, { pos: initial.pos });
      expect(stale.body.errcode).toBe("M_UNKNOWN_POS");
    } finally {
      await second.close();
    }
  });
});
