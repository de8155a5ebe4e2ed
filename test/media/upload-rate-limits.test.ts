import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { http } from "./helpers.ts";

describe("media_upload rate limit (NOVA_RATELIMIT_MEDIA_UPLOAD[_IP])", () => {
  let s: TestServer;
  let admin: string;

  beforeAll(async () => {
    s = await startTestServer({
      // One point per 100 s: nothing refills during the test.
      NOVA_RATELIMIT_MEDIA_UPLOAD: "0.01:3",
      NOVA_RATELIMIT_MEDIA_UPLOAD_IP: "0.01:7",
    });
    const r = await s.identity.register({ localpart: "root", password: "pw pw pw pw", admin: true });
    admin = (r as { accessToken: string }).accessToken;
  });
  afterAll(async () => {
    await s?.close();
  });

  const upload = (token: string) =>
    http(s, "POST", "/_matrix/media/v3/upload", { token, body: Buffer.from("x") });
  const create = async (token: string) => {
    const r = await http(s, "POST", "/_matrix/media/v1/create", { token });
    return {
      ...r,
      id:
        String(r.json.content_uri ?? "")
          .split("/")
          .pop() ?? "",
    };
  };
  const putAsync = (token: string, id: string) =>
    http(s, "PUT", `/_matrix/media/v3/upload/localhost/${id}`, { token, body: Buffer.from("y") });
  const expectLimited = (r: Awaited<ReturnType<typeof upload>>) => {
    expect(r.status).toBe(429);
    expect(r.json.errcode).toBe("M_LIMIT_EXCEEDED");
    expect(r.json.retry_after_ms).toBeGreaterThan(0);
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  };

  it("counts upload, create and the async PUT against one per-user bucket", async () => {
    const u = await s.register("uploader");
    const a = await create(u.accessToken);
    const b = await create(u.accessToken);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect((await putAsync(u.accessToken, a.id)).status).toBe(200);
    expectLimited(await putAsync(u.accessToken, b.id));
    expectLimited(await upload(u.accessToken));
    expectLimited(await create(u.accessToken));
  });

  it("counts every user of one address against the per-IP bucket", async () => {
    // The first test took 3 points of this address (127.0.0.1); two users take 4 more.
    for (const name of ["ip1", "ip2"]) {
      const u = await s.register(name);
      expect((await upload(u.accessToken)).status).toBe(200);
      expect((await upload(u.accessToken)).status).toBe(200);
    }
    const third = await s.register("ip3");
    expectLimited(await upload(third.accessToken));
  });

  it("never limits server admins", async () => {
    for (let i = 0; i < 5; i++) expect((await upload(admin)).status).toBe(200);
  });
});
