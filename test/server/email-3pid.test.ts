import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { aiosmtpdPython, startTestSmtp, type TestSmtp } from "../helpers/smtp.ts";

const PASSWORD = "correct horse battery staple";
let secretCounter = 0;
const clientSecret = () => `secret${++secretCounter}${Math.random().toString(36).slice(2)}`;

if (!aiosmtpdPython) console.log("email-3pid.test: skipped, needs python3-aiosmtpd (bash .ci/smtp.sh)");

describe.skipIf(!aiosmtpdPython)("email 3PIDs through a real SMTP server (aiosmtpd)", () => {
  let s: TestServer;
  let smtp: TestSmtp;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    s = await startTestServer({ NOVA_SMTP_URL: smtp.url, NOVA_SMTP_FROM: "Nova Test <nova@test.example>" });
  });
  afterAll(async () => {
    await s?.close();
    await smtp?.close();
  });

  const requestToken = (
    kind: "register" | "account/3pid" | "account/password",
    body: Record<string, unknown>,
  ) => s.call("POST", `/_matrix/client/v3/${kind}/email/requestToken`, { body });

  /** The link in the `n`th mail to `to`. */
  async function mailedLink(to: string, n = 1): Promise<URL> {
    const mail = await smtp.waitForMail(to, n);
    const m = /https?:\/\/\S+submit_token\S+/.exec(mail.text);
    if (!m) throw new Error(`no link in ${mail.text}`);
    // The link names the public base URL; the test server's port is only known once it listens.
    const link = new URL(m[0]);
    expect(link.origin).toBe(new URL(s.ctx.config.publicBaseUrl).origin);
    return new URL(link.pathname + link.search, s.baseUrl);
  }

  /** Requests a token for `email`, follows the mailed link; returns the validated creds. */
  async function validate(
    kind: "register" | "account/3pid" | "account/password",
    email: string,
  ): Promise<{ sid: string; client_secret: string }> {
    const secret = clientSecret();
    const before = smtp.mails().filter((m) => m.to === email.toLowerCase()).length;
    const r = await requestToken(kind, { client_secret: secret, email, send_attempt: 1 });
    expect(r.status).toBe(200);
    const link = await mailedLink(email, before + 1);
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("validated");
    return { sid: r.body.sid as string, client_secret: secret };
  }

  const login = (identifier: Record<string, unknown>, password = PASSWORD) =>
    s.call("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", identifier, password } });

  it("registers with an email: the flow, the mail, its link, the bound address", async () => {
    const first = await s.call("POST", "/_matrix/client/v3/register", {
      body: { username: "alice", password: PASSWORD },
    });
    expect(first.status).toBe(401);
    expect(first.body.flows).toEqual([{ stages: ["m.login.dummy"] }, { stages: ["m.login.email.identity"] }]);

    const secret = clientSecret();
    const r = await requestToken("register", {
      client_secret: secret,
      email: " Alice@Example.ORG ",
      send_attempt: 1,
    });
    expect(r.status).toBe(200);
    expect(new URL(r.body.submit_url as string).pathname).toBe(
      "/_matrix/client/unstable/registration/email/submit_token",
    );
    const mail = await smtp.waitForMail("alice@example.org");
    expect(mail.subject).toContain("Validate your email");
    expect(mail.headers.from).toBe("Nova Test <nova@test.example>");
    const link = await mailedLink("alice@example.org");
    expect(link.searchParams.get("sid")).toBe(r.body.sid);
    expect(link.searchParams.get("client_secret")).toBe(secret);

    // Not followed yet: the stage fails and the flow is still open.
    const creds = { sid: r.body.sid, client_secret: secret };
    const early = await s.call("POST", "/_matrix/client/v3/register", {
      body: { auth: { type: "m.login.email.identity", session: first.body.session, threepid_creds: creds } },
    });
    expect(early).toMatchObject({ status: 401, body: { errcode: "M_UNAUTHORIZED", completed: [] } });

    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain("validated");

    const done = await s.call("POST", "/_matrix/client/v3/register", {
      body: { auth: { type: "m.login.email.identity", session: first.body.session, threepid_creds: creds } },
    });
    expect(done.status).toBe(200);
    expect(done.body.user_id).toBe("@alice:localhost");
    const list = await s.call("GET", "/_matrix/client/v3/account/3pid", {
      token: done.body.access_token as string,
    });
    expect(list.body.threepids).toEqual([
      {
        medium: "email",
        address: "alice@example.org",
        validated_at: expect.any(Number),
        added_at: expect.any(Number),
      },
    ]);

    // Synapse's admin API shows it.
    const root = await s.identity.register({ localpart: "root", password: PASSWORD, admin: true });
    const admin = await s.call("GET", "/_synapse/admin/v2/users/%40alice%3Alocalhost", {
      token: (root as { accessToken: string }).accessToken,
    });
    expect(admin.body.threepids).toEqual(list.body.threepids);

    // The address is taken now.
    const again = await requestToken("register", {
      client_secret: clientSecret(),
      email: "ALICE@example.org",
      send_attempt: 1,
    });
    expect(again).toEqual({
      status: 400,
      body: { errcode: "M_THREEPID_IN_USE", error: "Email is already in use" },
    });
  });

  it("logs in by email with m.id.thirdparty, and with the r0 medium/address", async () => {
    const byEmail = await login({ type: "m.id.thirdparty", medium: "email", address: "ALICE@example.org" });
    expect(byEmail).toMatchObject({ status: 200, body: { user_id: "@alice:localhost" } });
    const r0 = await s.call("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", medium: "email", address: "alice@example.org", password: PASSWORD },
    });
    expect(r0).toMatchObject({ status: 200, body: { user_id: "@alice:localhost" } });
    expect(
      await login({ type: "m.id.thirdparty", medium: "email", address: "alice@example.org" }, "wrong"),
    ).toMatchObject({
      status: 403,
      body: { errcode: "M_FORBIDDEN" },
    });
    expect(
      await login({ type: "m.id.thirdparty", medium: "email", address: "nobody@example.org" }),
    ).toMatchObject({
      status: 403,
      body: { errcode: "M_FORBIDDEN" },
    });
    expect(await login({ type: "m.id.thirdparty", medium: "email" })).toMatchObject({
      status: 400,
      body: { errcode: "M_INVALID_PARAM" },
    });
  });

  it("adds an email to an account with UIA, lists it, deletes it", async () => {
    const bob = await s.register("bob");
    const secret = clientSecret();
    const r = await requestToken("account/3pid", {
      client_secret: secret,
      email: "bob@example.org",
      send_attempt: 1,
    });
    expect(r.status).toBe(200);
    const add = (body: Record<string, unknown>) =>
      s.call("POST", "/_matrix/client/v3/account/3pid/add", { token: bob.accessToken, body });

    // Not validated yet: past UIA, the session is refused.
    const uia1 = await add({ sid: r.body.sid, client_secret: secret });
    expect(uia1).toMatchObject({ status: 401, body: { flows: [{ stages: ["m.login.password"] }] } });
    const password = {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "bob" },
      password: PASSWORD,
    };
    expect(await add({ auth: { ...password, session: uia1.body.session } })).toMatchObject({
      status: 400,
      body: { errcode: "M_THREEPID_AUTH_FAILED" },
    });

    // The submit_url way (POST JSON) with the mailed token.
    const link = await mailedLink("bob@example.org");
    const token = link.searchParams.get("token");
    const wrong = await s.call("POST", new URL(r.body.submit_url as string).pathname, {
      body: { sid: r.body.sid, client_secret: secret, token: "not-the-token" },
    });
    expect(wrong).toMatchObject({ status: 400, body: { errcode: "M_THREEPID_AUTH_FAILED" } });
    const submitted = await s.call("POST", new URL(r.body.submit_url as string).pathname, {
      body: { sid: r.body.sid, client_secret: secret, token },
    });
    expect(submitted).toEqual({ status: 200, body: { success: true } });

    const uia2 = await add({ sid: r.body.sid, client_secret: secret });
    expect(uia2.status).toBe(401);
    expect(await add({ auth: { ...password, session: uia2.body.session } })).toEqual({
      status: 200,
      body: {},
    });
    const list = await s.call("GET", "/_matrix/client/v3/account/3pid", { token: bob.accessToken });
    expect(list.body.threepids).toMatchObject([{ medium: "email", address: "bob@example.org" }]);

    // Each validation is used once.
    const uia3 = await add({ sid: r.body.sid, client_secret: secret });
    expect(await add({ auth: { ...password, session: uia3.body.session } })).toMatchObject({
      status: 400,
      body: { errcode: "M_THREEPID_AUTH_FAILED" },
    });
    // An unknown sid too.
    const uia4 = await add({ sid: "nosuchsid", client_secret: secret });
    expect(await add({ auth: { ...password, session: uia4.body.session } })).toMatchObject({
      status: 400,
      body: { errcode: "M_THREEPID_AUTH_FAILED" },
    });

    const del = await s.call("POST", "/_matrix/client/v3/account/3pid/delete", {
      token: bob.accessToken,
      body: { medium: "email", address: "Bob@Example.org" },
    });
    expect(del).toEqual({ status: 200, body: { id_server_unbind_result: "no-support" } });
    expect((await s.call("GET", "/_matrix/client/v3/account/3pid", { token: bob.accessToken })).body).toEqual(
      {
        threepids: [],
      },
    );
    expect(
      (await login({ type: "m.id.thirdparty", medium: "email", address: "bob@example.org" })).status,
    ).toBe(403);
  });

  it("resets a password by email: old password fails, new works, other sessions are logged out", async () => {
    const carol = await s.register("carol");
    const creds = await validate("account/3pid", "carol@example.org");
    const uia = await s.call("POST", "/_matrix/client/v3/account/3pid/add", {
      token: carol.accessToken,
      body: { ...creds },
    });
    const password = {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "carol" },
      password: PASSWORD,
    };
    expect(
      (
        await s.call("POST", "/_matrix/client/v3/account/3pid/add", {
          token: carol.accessToken,
          body: { auth: { ...password, session: uia.body.session } },
        })
      ).status,
    ).toBe(200);
    const other = await login({ type: "m.id.user", user: "carol" });
    expect(other.status).toBe(200);

    expect(
      await requestToken("account/password", {
        client_secret: clientSecret(),
        email: "nobody@example.org",
        send_attempt: 1,
      }),
    ).toEqual({ status: 400, body: { errcode: "M_THREEPID_NOT_FOUND", error: "Email not found" } });

    const reset = await validate("account/password", "CAROL@example.org");
    const mail = await smtp.waitForMail("carol@example.org", 2);
    expect(mail.subject).toContain("Password reset");
    const first = await s.call("POST", "/_matrix/client/v3/account/password", {
      body: { new_password: "new pass 1" },
    });
    expect(first).toMatchObject({ status: 401, body: { flows: [{ stages: ["m.login.email.identity"] }] } });
    const done = await s.call("POST", "/_matrix/client/v3/account/password", {
      body: { auth: { type: "m.login.email.identity", session: first.body.session, threepid_creds: reset } },
    });
    expect(done).toEqual({ status: 200, body: {} });

    expect((await login({ type: "m.id.user", user: "carol" })).status).toBe(403);
    expect((await login({ type: "m.id.user", user: "carol" }, "new pass 1")).status).toBe(200);
    for (const token of [carol.accessToken, other.body.access_token as string]) {
      expect(await s.call("GET", "/_matrix/client/v3/account/whoami", { token })).toMatchObject({
        status: 401,
        body: { errcode: "M_UNKNOWN_TOKEN" },
      });
    }
  });

  it("answers a repeated send attempt with the same sid and no new mail; a new attempt mails again", async () => {
    const secret = clientSecret();
    const body = { client_secret: secret, email: "dave@example.org", send_attempt: 1 };
    const a = await requestToken("register", body);
    await smtp.waitForMail("dave@example.org", 1);
    const b = await requestToken("register", body);
    expect(b).toEqual(a);
    const c = await requestToken("register", { ...body, send_attempt: 2 });
    expect(c.body.sid).toBe(a.body.sid);
    await smtp.waitForMail("dave@example.org", 2);
    // The first mail's link was replaced by the second's.
    const old = await fetch(await mailedLink("dave@example.org", 1));
    expect(old.status).toBe(400);
    expect((await fetch(await mailedLink("dave@example.org", 2))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(smtp.mails().filter((m) => m.to === "dave@example.org")).toHaveLength(2);
  });

  it("refuses bad input", async () => {
    const ok = { client_secret: "abc", email: "eve@example.org", send_attempt: 1 };
    expect(await requestToken("register", { ...ok, email: "not an email" })).toMatchObject({
      status: 400,
      body: { errcode: "M_INVALID_PARAM" },
    });
    expect(await requestToken("register", { ...ok, email: "a@b@c" })).toMatchObject({
      status: 400,
      body: { errcode: "M_INVALID_PARAM" },
    });
    expect(await requestToken("register", { ...ok, client_secret: "has space" })).toMatchObject({
      status: 400,
      body: { errcode: "M_INVALID_PARAM" },
    });
    expect(await requestToken("register", { ...ok, next_link: "file:///etc/passwd" })).toMatchObject({
      status: 400,
      body: { errcode: "M_INVALID_PARAM" },
    });
    expect(await requestToken("register", { email: "eve@example.org" })).toMatchObject({
      status: 400,
      body: { errcode: "M_BAD_JSON" },
    });
    const unknown = await fetch(
      `${s.baseUrl}/_matrix/client/unstable/add_threepid/email/submit_token?token=t&client_secret=abc&sid=nope`,
    );
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain("Unknown session_id");
  });

  it("redirects to next_link once validated", async () => {
    const secret = clientSecret();
    const r = await requestToken("account/3pid", {
      client_secret: secret,
      email: "frank@example.org",
      send_attempt: 1,
      next_link: "https://client.example/validated",
    });
    const res = await fetch(await mailedLink("frank@example.org"), { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("https://client.example/validated");
    expect(r.body.sid).toEqual(expect.any(String));
  });

  it("frees a deactivated account's addresses; bind is refused, unbind has no support", async () => {
    const gina = await s.register("gina");
    const creds = await validate("account/3pid", "gina@example.org");
    const password = {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "gina" },
      password: PASSWORD,
    };
    const uia = await s.call("POST", "/_matrix/client/v3/account/3pid/add", {
      token: gina.accessToken,
      body: creds,
    });
    await s.call("POST", "/_matrix/client/v3/account/3pid/add", {
      token: gina.accessToken,
      body: { auth: { ...password, session: uia.body.session } },
    });
    const bind = await s.call("POST", "/_matrix/client/v3/account/3pid/bind", {
      token: gina.accessToken,
      body: { ...creds, id_server: "id.example", id_access_token: "x" },
    });
    expect(bind).toMatchObject({ status: 400, body: { errcode: "M_SERVER_NOT_TRUSTED" } });
    const unbind = await s.call("POST", "/_matrix/client/unstable/account/3pid/unbind", {
      token: gina.accessToken,
      body: { medium: "email", address: "gina@example.org", id_server: "id.example" },
    });
    expect(unbind).toEqual({ status: 200, body: { id_server_unbind_result: "no-support" } });
    expect(
      (
        await requestToken("register", {
          client_secret: clientSecret(),
          email: "gina@example.org",
          send_attempt: 1,
        })
      ).body.errcode,
    ).toBe("M_THREEPID_IN_USE");

    const d1 = await s.call("POST", "/_matrix/client/v3/account/deactivate", {
      token: gina.accessToken,
      body: {},
    });
    await s.call("POST", "/_matrix/client/v3/account/deactivate", {
      token: gina.accessToken,
      body: { auth: { ...password, session: d1.body.session } },
    });
    expect(
      (
        await requestToken("register", {
          client_secret: clientSecret(),
          email: "gina@example.org",
          send_attempt: 1,
        })
      ).status,
    ).toBe(200);
  });

  it("says 3PID changes are enabled", async () => {
    const u = await s.register();
    const caps = await s.call("GET", "/_matrix/client/v3/capabilities", { token: u.accessToken });
    expect((caps.body.capabilities as Record<string, unknown>)["m.3pid_changes"]).toEqual({ enabled: true });
  });
});
