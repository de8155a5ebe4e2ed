import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../companion-services/platform/config.ts";
import { loadConfig } from "../../server/config.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { aiosmtpdPython, startTestSmtp, type TestSmtp } from "../helpers/smtp.ts";

const PASSWORD = "correct horse battery staple";
let secretCounter = 0;
const clientSecret = () => `secret${++secretCounter}${Math.random().toString(36).slice(2)}`;

// Email 3PIDs and the server's other settings: without SMTP, and with registration tokens.

describe("NOVA_SMTP_URL and NOVA_SMTP_FROM", () => {
  it("default the sender from the server name and refuse what is not SMTP, in one line", () => {
    expect(loadConfig({}).email).toBeNull();
    expect(
      loadConfig({ NOVA_SMTP_URL: "smtp://127.0.0.1:2525", NOVA_SERVER_NAME: "chat.example:8448" }).email,
    ).toEqual({
      smtpUrl: "smtp://127.0.0.1:2525",
      from: "Nova <noreply@chat.example>",
    });
    expect(() => loadConfig({ NOVA_SMTP_URL: "http://mail.example" })).toThrow(ConfigError);
    expect(() => loadConfig({ NOVA_SMTP_URL: "smtp://mail.example", NOVA_SMTP_FROM: "nobody" })).toThrow(
      /^invalid configuration: NOVA_SMTP_FROM: /,
    );
  });
});
describe("email 3PIDs without NOVA_SMTP_URL", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s?.close());

  it("refuses the requestToken endpoints as Synapse does and offers no email flow", async () => {
    const body = { client_secret: "abc", email: "a@example.org", send_attempt: 1 };
    for (const [path, error] of [
      [
        "/_matrix/client/v3/register/email/requestToken",
        "Email-based registration has been disabled on this server",
      ],
      [
        "/_matrix/client/v3/account/3pid/email/requestToken",
        "Adding an email to your account is disabled on this server",
      ],
      [
        "/_matrix/client/v3/account/password/email/requestToken",
        "Password resets have been disabled on this server",
      ],
    ] as const) {
      expect(await s.call("POST", path, { body })).toEqual({
        status: 400,
        body: { errcode: "M_UNKNOWN", error },
      });
    }
    const r = await s.call("POST", "/_matrix/client/v3/register", {
      body: { username: "nomail", password: PASSWORD },
    });
    expect(r.body.flows).toEqual([{ stages: ["m.login.dummy"] }]);
    const u = await s.register();
    const caps = await s.call("GET", "/_matrix/client/v3/capabilities", { token: u.accessToken });
    expect((caps.body.capabilities as Record<string, unknown>)["m.3pid_changes"]).toEqual({ enabled: false });
    expect(await s.call("GET", "/_matrix/client/v3/account/3pid", { token: u.accessToken })).toEqual({
      status: 200,
      body: { threepids: [] },
    });
    // Without a token and without email, a password change is the authenticated one.
    const reset = await s.call("POST", "/_matrix/client/v3/account/password", {
      body: { new_password: "x" },
    });
    expect(reset).toMatchObject({ status: 401, body: { errcode: "M_MISSING_TOKEN" } });
  });
});

if (!aiosmtpdPython)
  console.log("email-registration.test: token part skipped, needs python3-aiosmtpd (bash .ci/smtp.sh)");

describe.skipIf(!aiosmtpdPython)("email registration with NOVA_REGISTRATION=token", () => {
  let s: TestServer;
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await startTestSmtp();
    s = await startTestServer({ NOVA_SMTP_URL: smtp.url, NOVA_REGISTRATION: "token" });
  });
  afterAll(async () => {
    await s?.close();
    await smtp?.close();
  });

  it("keeps the token of one request for the email stage of the next, and uses it up", async () => {
    const { token } = await s.identity.createRegistrationToken({ usesAllowed: 1 });
    const first = await s.call("POST", "/_matrix/client/v3/register", {
      body: { username: "tina", password: PASSWORD },
    });
    expect(first.body.flows).toEqual([
      { stages: ["m.login.registration_token", "m.login.dummy"] },
      { stages: ["m.login.registration_token", "m.login.email.identity"] },
    ]);
    const session = first.body.session;
    const tokenStage = await s.call("POST", "/_matrix/client/v3/register", {
      body: { auth: { type: "m.login.registration_token", token, session } },
    });
    // As Synapse: the token alone finishes no flow, so the client still picks dummy or email.
    expect(tokenStage).toMatchObject({ status: 401, body: { completed: ["m.login.registration_token"] } });
    const dummy = await s.call("POST", "/_matrix/client/v3/register", {
      body: { auth: { type: "m.login.dummy", session } },
    });
    expect(dummy).toMatchObject({ status: 200, body: { user_id: "@tina:localhost" } });
    expect(await s.identity.validateRegistrationToken(token)).toBe(false);

    const { token: token2 } = await s.identity.createRegistrationToken({ usesAllowed: 1 });
    const secret = clientSecret();
    const r = await s.call("POST", "/_matrix/client/v3/register/email/requestToken", {
      body: { client_secret: secret, email: "tom@example.org", send_attempt: 1 },
    });
    const mail = await smtp.waitForMail("tom@example.org");
    const link = new URL(/https?:\/\/\S+submit_token\S+/.exec(mail.text)![0]);
    expect((await fetch(new URL(link.pathname + link.search, s.baseUrl))).status).toBe(200);
    const start = await s.call("POST", "/_matrix/client/v3/register", {
      body: { username: "tom", password: PASSWORD },
    });
    const tokenFirst = await s.call("POST", "/_matrix/client/v3/register", {
      body: { auth: { type: "m.login.registration_token", token: token2, session: start.body.session } },
    });
    expect(tokenFirst).toMatchObject({ status: 401, body: { completed: ["m.login.registration_token"] } });
    const done = await s.call("POST", "/_matrix/client/v3/register", {
      body: {
        auth: {
          type: "m.login.email.identity",
          session: start.body.session,
          threepid_creds: { sid: r.body.sid, client_secret: secret },
        },
      },
    });
    expect(done).toMatchObject({ status: 200, body: { user_id: "@tom:localhost" } });
    expect(await s.identity.validateRegistrationToken(token2)).toBe(false);
    expect(await s.identity.threepids.userIdByThreepid("email", "tom@example.org")).toBe("@tom:localhost");
  });
});
