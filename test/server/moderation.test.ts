import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Who = { userId: string; deviceId: string; accessToken: string };
type Connection = { ip: string; last_seen: number; user_agent: string };
type DeviceInfo = { sessions: { connections: Connection[] }[] };

const V3 = "/_matrix/client/v3";

describe("whois, OpenID tokens and content reports", () => {
  let s: TestServer;
  let alice: Who;
  let bob: Who;
  let admin: Who;

  const call = (who: Who, method: string, path: string, body?: unknown) =>
    s.call(method, `${V3}${path}`, { token: who.accessToken, body });

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register("alice");
    bob = await s.register("bob");
    const root = await s.identity.register({
      localpart: "root",
      password: "correct horse battery",
      admin: true,
    });
    if (!("accessToken" in root) || !root.accessToken) throw new Error("admin registration did not log in");
    admin = { userId: root.userId, deviceId: root.deviceId, accessToken: root.accessToken };
  });
  afterAll(async () => {
    await s.close();
  });

  describe("GET /admin/whois/{userId}", () => {
    it("answers the user themself with their devices' sessions and connections", async () => {
      const r = await call(alice, "GET", `/admin/whois/${encodeURIComponent(alice.userId)}`);
      expect(r.status).toBe(200);
      expect(r.body.user_id).toBe(alice.userId);
      const devices = r.body.devices as Record<string, DeviceInfo>;
      expect(Object.keys(devices)).toEqual([alice.deviceId]);
      const conn = devices[alice.deviceId]!.sessions[0]!.connections[0]!;
      expect(typeof conn.ip).toBe("string");
      expect(typeof conn.last_seen).toBe("number");
      expect(typeof conn.user_agent).toBe("string");
    });

    it("answers a server admin about anyone, and nobody else", async () => {
      const r = await call(admin, "GET", `/admin/whois/${encodeURIComponent(bob.userId)}`);
      expect(r.status).toBe(200);
      expect(Object.keys(r.body.devices as object)).toEqual([bob.deviceId]);
      const denied = await call(alice, "GET", `/admin/whois/${encodeURIComponent(bob.userId)}`);
      expect(denied.status).toBe(403);
      expect(denied.body.errcode).toBe("M_FORBIDDEN");
    });

    it("404s an unknown user, 400s a malformed id", async () => {
      const missing = await call(admin, "GET", `/admin/whois/${encodeURIComponent("@nobody:localhost")}`);
      expect(missing.status).toBe(404);
      expect(missing.body.errcode).toBe("M_NOT_FOUND");
      const bad = await call(admin, "GET", "/admin/whois/not-a-user");
      expect(bad.status).toBe(400);
    });
  });

  describe("OpenID", () => {
    it("issues a token for oneself that userinfo exchanges for the user id", async () => {
      const r = await call(
        alice,
        "POST",
        `/user/${encodeURIComponent(alice.userId)}/openid/request_token`,
        {},
      );
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        token_type: "Bearer",
        matrix_server_name: "localhost",
        expires_in: 3600,
      });
      const token = r.body.access_token as string;
      expect(token.length).toBeGreaterThan(20);
      const info = await s.call("GET", `/_matrix/federation/v1/openid/userinfo?access_token=${token}`);
      expect(info.status).toBe(200);
      expect(info.body).toEqual({ sub: alice.userId });
    });

    it("refuses a token for someone else", async () => {
      const r = await call(alice, "POST", `/user/${encodeURIComponent(bob.userId)}/openid/request_token`, {});
      expect(r.status).toBe(403);
      expect(r.body.errcode).toBe("M_FORBIDDEN");
    });

    it("rejects unknown, missing and expired tokens with M_UNKNOWN_TOKEN", async () => {
      for (const q of ["?access_token=nope", "", `?access_token=${"x".repeat(2000)}`]) {
        const r = await s.call("GET", `/_matrix/federation/v1/openid/userinfo${q}`);
        expect(r.status).toBe(401);
        expect(r.body.errcode).toBe("M_UNKNOWN_TOKEN");
      }
      const r = await call(bob, "POST", `/user/${encodeURIComponent(bob.userId)}/openid/request_token`, {});
      const token = r.body.access_token as string;
      const realNow = Date.now;
      Date.now = () => realNow() + 3_600_001;
      try {
        const expired = await s.call("GET", `/_matrix/federation/v1/openid/userinfo?access_token=${token}`);
        expect(expired.status).toBe(401);
        expect(expired.body.errcode).toBe("M_UNKNOWN_TOKEN");
      } finally {
        Date.now = realNow;
      }
    });
  });

  describe("reports", () => {
    let roomId: string;
    let eventId: string;
    let privateRoom: string;
    let privateEvent: string;

    beforeAll(async () => {
      roomId = (await call(alice, "POST", "/createRoom", { preset: "public_chat" })).body.room_id as string;
      expect((await call(bob, "POST", `/join/${roomId}`, {})).status).toBe(200);
      const sent = await call(alice, "PUT", `/rooms/${roomId}/send/m.room.message/t1`, {
        msgtype: "m.text",
        body: "spam",
      });
      eventId = sent.body.event_id as string;
      privateRoom = (await call(alice, "POST", "/createRoom", { preset: "private_chat" })).body
        .room_id as string;
      privateEvent = (
        await call(alice, "PUT", `/rooms/${privateRoom}/send/m.room.message/t2`, {
          msgtype: "m.text",
          body: "x",
        })
      ).body.event_id as string;
    });

    it("stores an event report from someone who can see the event", async () => {
      const r = await call(bob, "POST", `/rooms/${roomId}/report/${encodeURIComponent(eventId)}`, {
        reason: "spam",
        score: -100,
      });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({});
      expect(
        (await call(bob, "POST", `/rooms/${roomId}/report/${encodeURIComponent(eventId)}`, {})).status,
      ).toBe(200);
      const [latest, first] = await s.moderation.reports.list({ limit: 2, kind: "event" });
      expect(latest).toMatchObject({ kind: "event", reporter: bob.userId, roomId, eventId, reason: null });
      expect(first).toMatchObject({ reason: "spam", score: -100 });
    });

    it("404s an event the reporter cannot see, or that does not exist", async () => {
      const hidden = await call(
        bob,
        "POST",
        `/rooms/${privateRoom}/report/${encodeURIComponent(privateEvent)}`,
        {},
      );
      expect(hidden.status).toBe(404);
      expect(hidden.body.errcode).toBe("M_NOT_FOUND");
      const missing = await call(bob, "POST", `/rooms/${roomId}/report/${encodeURIComponent("$nope")}`, {});
      expect(missing.status).toBe(404);
      expect(missing.body.errcode).toBe("M_NOT_FOUND");
      // The event exists, but in another room.
      const elsewhere = await call(
        alice,
        "POST",
        `/rooms/${roomId}/report/${encodeURIComponent(privateEvent)}`,
        {},
      );
      expect(elsewhere.status).toBe(404);
    });

    it("400s a bad score or reason, never a 500", async () => {
      const path = `/rooms/${roomId}/report/${encodeURIComponent(eventId)}`;
      for (const body of [
        { score: 1 },
        { score: -101 },
        { score: 1e300 },
        { score: -0.5 },
        { score: "bad" },
        { reason: 42 },
        { reason: "nul\u0000byte" },
        { reason: "x".repeat(20_000) },
      ]) {
        const r = await call(bob, "POST", path, body);
        expect(r.status, JSON.stringify(body).slice(0, 40)).toBe(400);
        expect(r.body.errcode).toBe("M_BAD_JSON");
      }
      const notJson = await s.call("POST", `${V3}${path}`, { token: bob.accessToken, raw: "{" });
      expect(notJson.status).toBe(400);
      const badRoom = await call(bob, "POST", `/rooms/nope/report/${encodeURIComponent(eventId)}`, {});
      expect(badRoom.status).toBe(400);
    });

    it("stores a room report; 404s an unknown room", async () => {
      const r = await call(bob, "POST", `/rooms/${privateRoom}/report`, { reason: "abuse" });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({});
      const [latest] = await s.moderation.reports.list({ limit: 1, kind: "room" });
      expect(latest).toMatchObject({
        kind: "room",
        reporter: bob.userId,
        roomId: privateRoom,
        reason: "abuse",
      });
      const unknown = await call(bob, "POST", "/rooms/!unknown:localhost/report", { reason: "x" });
      expect(unknown.status).toBe(404);
      expect(unknown.body.errcode).toBe("M_NOT_FOUND");
      const noReason = await call(bob, "POST", `/rooms/${roomId}/report`, {});
      expect(noReason.status).toBe(400);
      const nul = await call(bob, "POST", `/rooms/${roomId}/report`, { reason: "\u0000" });
      expect(nul.status).toBe(400);
    });

    it("stores a user report; 404s an unknown user", async () => {
      const r = await call(bob, "POST", `/users/${encodeURIComponent(alice.userId)}/report`, { reason: "" });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({});
      const [latest] = await s.moderation.reports.list({ limit: 1, kind: "user" });
      expect(latest).toMatchObject({
        kind: "user",
        reporter: bob.userId,
        targetUserId: alice.userId,
        reason: "",
      });
      const unknown = await call(bob, "POST", `/users/${encodeURIComponent("@ghost:localhost")}/report`, {
        reason: "x",
      });
      expect(unknown.status).toBe(404);
      expect(unknown.body.errcode).toBe("M_NOT_FOUND");
      const bad = await call(bob, "POST", "/users/ghost/report", { reason: "x" });
      expect(bad.status).toBe(400);
      const all = await s.moderation.reports.list({ limit: 10 });
      expect(all.map((x) => x.kind)).toEqual(["user", "room", "event", "event"]);
    });
  });
});
