import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAdminServer } from "../helpers/admin.ts";
import type { TestServer } from "../helpers/server.ts";

const A = "/_synapse/admin/v1/event_reports";
const C = "/_matrix/client/v3";
const enc = encodeURIComponent;

describe("admin API: event reports", () => {
  let s: TestServer;
  let admin: string;
  beforeAll(async () => {
    ({ s, admin } = await startAdminServer());
  });
  afterAll(async () => {
    await s.close();
  });

  it("lists reports newest first, shows one with its event, and resolves it", async () => {
    const u = await s.register();
    const room = await s.call("POST", `${C}/createRoom`, {
      token: u.accessToken,
      body: { name: "Reported" },
    });
    const roomId = room.body.room_id as string;
    const ids: string[] = [];
    for (const body of ["one", "two"]) {
      const sent = await s.call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/${body}`, {
        token: u.accessToken,
        body: { msgtype: "m.text", body },
      });
      ids.push(sent.body.event_id as string);
      const rep = await s.call(
        "POST",
        `${C}/rooms/${enc(roomId)}/report/${enc(sent.body.event_id as string)}`,
        {
          token: u.accessToken,
          body: { reason: `bad ${body}` },
        },
      );
      expect(rep.status).toBe(200);
    }
    const list = await s.call("GET", A, { token: admin });
    expect(list.body.total).toBe(2);
    const reports = list.body.event_reports as {
      id: number;
      event_id: string;
      name: string;
      sender: string;
    }[];
    expect(reports.map((r) => r.event_id)).toEqual([ids[1], ids[0]]);
    expect(reports[0]).toMatchObject({
      name: "Reported",
      sender: u.userId,
      user_id: u.userId,
      reason: "bad two",
    });
    const paged = await s.call("GET", `${A}?limit=1&dir=f`, { token: admin });
    expect((paged.body.event_reports as { event_id: string }[])[0]!.event_id).toBe(ids[0]);
    expect(paged.body.next_token).toBe(1);
    const one = await s.call("GET", `${A}/${reports[0]!.id}`, { token: admin });
    expect((one.body.event_json as { content: { body: string } }).content.body).toBe("two");
    expect((await s.call("DELETE", `${A}/${reports[0]!.id}`, { token: admin })).status).toBe(200);
    expect((await s.call("GET", `${A}/${reports[0]!.id}`, { token: admin })).status).toBe(404);
    expect((await s.call("GET", A, { token: admin })).body.total).toBe(1);
    expect((await s.call("GET", A, { token: u.accessToken })).status).toBe(403);
  });
});
