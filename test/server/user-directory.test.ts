import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Who = { userId: string; deviceId: string; accessToken: string };
const V3 = "/_matrix/client/v3";

/**
 * The user directory shows everyone the joined members of rooms anyone may join or read (join rule
 * public, or world_readable history), as Synapse does; the sytest scenarios of 52user-directory.
 */
describe("user directory visibility", () => {
  let s: TestServer;
  let owner: Who;
  let searcher: Who;

  const call = (who: Who, method: string, path: string, body?: unknown) =>
    s.call(method, `${V3}${path}`, { token: who.accessToken, body });
  const found = async (term: string): Promise<string[]> => {
    const r = await call(searcher, "POST", "/user_directory/search", { search_term: term });
    expect(r.status).toBe(200);
    return (r.body.results as { user_id: string }[]).map((u) => u.user_id);
  };
  const setState = async (roomId: string, type: string, content: Record<string, unknown>) => {
    const r = await call(owner, "PUT", `/rooms/${roomId}/state/${type}`, content);
    expect(r.status).toBe(200);
  };
  const room = async (preset: string) => {
    const r = await call(owner, "POST", "/createRoom", { preset });
    expect(r.status).toBe(200);
    return r.body.room_id as string;
  };

  beforeAll(async () => {
    s = await startTestServer();
    owner = await s.register("owner");
    searcher = await s.register("searcher");
  });
  afterAll(async () => {
    await s?.close();
  });

  it("shows a user while joined to a public room, not after leaving it", async () => {
    const roomId = await room("public_chat");
    const joiner = await s.register("joinleave");
    expect(await found("joinleave")).toEqual([]);
    expect((await call(joiner, "POST", `/join/${roomId}`, {})).status).toBe(200);
    expect(await found("joinleave")).toEqual([joiner.userId]);
    expect((await call(joiner, "POST", `/rooms/${roomId}/leave`, {})).status).toBe(200);
    expect(await found("joinleave")).toEqual([]);
  });

  it("follows the room's join rule", async () => {
    const roomId = await room("public_chat");
    const member = await s.register("joinrules");
    await call(member, "POST", `/join/${roomId}`, {});
    expect(await found("joinrules")).toEqual([member.userId]);
    await setState(roomId, "m.room.join_rules", { join_rule: "invite" });
    expect(await found("joinrules")).toEqual([]);
    await setState(roomId, "m.room.join_rules", { join_rule: "public" });
    expect(await found("joinrules")).toEqual([member.userId]);
  });

  it("follows world_readable history, and keeps members of a world_readable room whatever the join rule", async () => {
    const roomId = await room("private_chat");
    const member = await s.register("histvis");
    await call(owner, "POST", `/rooms/${roomId}/invite`, { user_id: member.userId });
    await call(member, "POST", `/join/${roomId}`, {});
    expect(await found("histvis")).toEqual([]);
    await setState(roomId, "m.room.history_visibility", { history_visibility: "world_readable" });
    expect(await found("histvis")).toEqual([member.userId]);
    await setState(roomId, "m.room.join_rules", { join_rule: "public" });
    await setState(roomId, "m.room.join_rules", { join_rule: "invite" });
    expect(await found("histvis")).toEqual([member.userId]);
    await setState(roomId, "m.room.history_visibility", { history_visibility: "shared" });
    expect(await found("histvis")).toEqual([]);
  });

  it("never shows members of a private room to a stranger, but does to a fellow member", async () => {
    const roomId = await room("private_chat");
    const member = await s.register("privmember");
    await call(owner, "POST", `/rooms/${roomId}/invite`, { user_id: member.userId });
    await call(member, "POST", `/join/${roomId}`, {});
    expect(await found("privmember")).toEqual([]);
    const r = await call(owner, "POST", "/user_directory/search", { search_term: "privmember" });
    expect((r.body.results as { user_id: string }[]).map((u) => u.user_id)).toEqual([member.userId]);
  });
});
