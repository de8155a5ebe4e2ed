import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAdminServer } from "../helpers/admin.ts";
import type { TestServer } from "../helpers/server.ts";

const A = "/_synapse/admin/v1";

describe("admin API: server notices and background updates", () => {
  let s: TestServer;
  let admin: string;
  beforeAll(async () => {
    ({ s, admin } = await startAdminServer());
  });
  afterAll(async () => {
    await s.close();
  });

  it("sends notices into one per-user room from @server, created and the user invited on the first", async () => {
    const u = await s.register();
    const send = (body: string) =>
      s.call("POST", `${A}/send_server_notice`, {
        token: admin,
        body: { user_id: u.userId, content: { msgtype: "m.text", body } },
      });
    const first = await send("maintenance at noon");
    expect(first.status).toBe(200);
    const invited = (await s.rooms.membershipsOf(u.userId)).filter((m) => m.membership === "invite");
    expect(invited).toHaveLength(1);
    const roomId = invited[0]!.room_id;
    expect(await s.rooms.membership(roomId, "@server:localhost")).toBe("join");
    const join = await s.call("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/join`, {
      token: u.accessToken,
      body: {},
    });
    expect(join.status).toBe(200);
    const second = await send("done");
    const ev = await s.call(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(second.body.event_id as string)}`,
      { token: u.accessToken },
    );
    expect(ev.body).toMatchObject({ sender: "@server:localhost", content: { body: "done" } });
    expect((await s.rooms.membershipsOf(u.userId)).filter((m) => m.membership !== "leave")).toHaveLength(1);
    const missing = await s.call("POST", `${A}/send_server_notice`, {
      token: admin,
      body: { user_id: "@ghost:localhost", content: { body: "x" } },
    });
    expect(missing.status).toBe(404);
  });

  it("reports no background updates (migrations finish before the server listens)", async () => {
    const r = await s.call("GET", `${A}/background_updates/status`, { token: admin });
    expect(r.body).toEqual({ enabled: true, current_updates: {} });
  });
});
