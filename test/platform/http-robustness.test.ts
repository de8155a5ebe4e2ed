import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkJsonText, MAX_JSON_DEPTH } from "../../companion-services/platform/http/json-guard.ts";
import { parseClientFrame } from "../../sync/ws/protocol.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

/** What fuzzing every route found (issue #14): client mistakes answered at the edge, never 500. */
let server: TestServer;
let token: string;
let userId: string;

beforeAll(async () => {
  server = await startTestServer();
  const u = await server.register();
  token = u.accessToken;
  userId = u.userId;
});
afterAll(async () => {
  await server?.close();
});

const raw = (method: string, path: string, body?: Buffer, opts: { token?: boolean } = {}) =>
  new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>(
    (resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: server.port,
          method,
          path,
          headers: {
            "Content-Type": "application/json",
            ...(opts.token === false ? {} : { Authorization: `Bearer ${token}` }),
          },
        },
        (res) => {
          let text = "";
          res.on("data", (d: Buffer) => {
            text += d.toString();
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        },
      );
      req.on("error", reject);
      req.end(body);
    },
  );

const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;

describe("the HTTP front refuses what would break below it", () => {
  it("answers a NUL in a path or query with 400, not 500", async () => {
    const a = await server.call("GET", "/_matrix/client/v3/profile/%40zed%3Alocalhost%00");
    expect(a.status).toBe(400);
    expect(a.body.errcode).toBe("M_INVALID_PARAM");
    const b = await server.call(
      "GET",
      "/_matrix/client/v1/register/m.login.registration_token/validity?token=%00",
    );
    expect(b.status).toBe(400);
  });

  it("answers a \\u0000 in a JSON string with 400 M_BAD_JSON", async () => {
    const r = await server.call(
      "PUT",
      `/_matrix/client/v3/profile/${encodeURIComponent(userId)}/displayname`,
      {
        token,
        raw: '{"displayname":"a\\u0000b"}',
      },
    );
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe("M_BAD_JSON");
    // An escaped backslash followed by the letters u0000 is not a NUL.
    const ok = await server.call(
      "PUT",
      `/_matrix/client/v3/profile/${encodeURIComponent(userId)}/displayname`,
      {
        token,
        raw: '{"displayname":"a\\\\u0000b"}',
      },
    );
    expect(ok.status).toBe(200);
  });

  it("caps JSON nesting at the parser: 5,000 deep is 400 M_BAD_JSON on every route", async () => {
    const room = await server.call("POST", "/_matrix/client/v3/createRoom", { token, body: {} });
    const roomId = room.body.room_id as string;
    const body = `{"msgtype":"m.text","body":"x","deep":${deep(5000)}}`;
    for (const [method, path] of [
      ["PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/deep1`],
      ["POST", "/_matrix/client/v3/createRoom"],
      ["PUT", `/_matrix/client/v3/rooms/${roomId}/state/m.custom/`],
      ["PUT", `/_matrix/client/v3/user/${encodeURIComponent(userId)}/account_data/m.x`],
    ] as const) {
      const r = await server.call(method, path, { token, raw: body });
      expect(r.status, `${method} ${path}`).toBe(400);
      expect(r.body.errcode).toBe("M_BAD_JSON");
    }
    const fine = await server.call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/deep2`, {
      token,
      raw: `{"msgtype":"m.text","body":"x","deep":${deep(MAX_JSON_DEPTH - 1)}}`,
    });
    expect(fine.status).toBe(200);
  });

  it("answers invalid UTF-8 with M_NOT_JSON", async () => {
    const r = await raw(
      "POST",
      "/_matrix/client/v3/register",
      Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    );
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).errcode).toBe("M_NOT_JSON");
  });

  it("sends nosniff on every response, and HEAD without a body", async () => {
    const r = await raw("GET", "/_matrix/client/versions");
    expect(r.headers["x-content-type-options"]).toBe("nosniff");
    const e = await raw("GET", "/_matrix/client/v3/nope");
    expect(e.headers["x-content-type-options"]).toBe("nosniff");
    const h = await raw("HEAD", "/_matrix/client/v3/account/whoami");
    expect(h.status).toBe(200);
    expect(h.body).toBe("");
    expect(Number(h.headers["content-length"])).toBeGreaterThan(0);
    const h401 = await raw("HEAD", "/_matrix/client/v3/account/whoami", undefined, { token: false });
    expect(h401.status).toBe(401);
    expect(h401.body).toBe("");
  });

  it("serves an /unstable/ path no route claims as its v3 namesake", async () => {
    const r = await server.call("GET", "/_matrix/client/unstable/account/whoami", { token });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe(userId);
  });
});

describe("the JSON guard", () => {
  it("sees nesting and escaped NULs only outside and inside strings as JSON means them", () => {
    expect(checkJsonText(deep(MAX_JSON_DEPTH))).toBe("ok");
    expect(checkJsonText(deep(MAX_JSON_DEPTH + 1))).toBe("too_deep");
    expect(checkJsonText(`"${"[".repeat(500)}"`)).toBe("ok");
    expect(checkJsonText('{"a":"\\u0000"}')).toBe("nul");
    expect(checkJsonText('{"a":"\\\\u0000"}')).toBe("ok");
    expect(checkJsonText('{"a":"\\"[[["}')).toBe("ok");
  });

  it("refuses a deep or NUL-carrying WebSocket frame with an error, not a crash", () => {
    expect(parseClientFrame(`{"type":"request","id":"1","body":${deep(5000)}}`)).toMatchObject({
      ok: false,
      errcode: "M_BAD_JSON",
    });
    expect(parseClientFrame('{"type":"ping","id":"\\u0000"}')).toMatchObject({
      ok: false,
      errcode: "M_BAD_JSON",
    });
  });
});
