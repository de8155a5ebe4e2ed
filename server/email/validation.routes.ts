import { z } from "zod";
import { EMAIL_TOKEN_TTL_MS } from "../../companion-services/identity/client.ts";
import { forbidden, invalidParam, MatrixError } from "../../companion-services/platform/errors.ts";
import type { Request, Response } from "../../companion-services/platform/http/router.ts";
import { bucketLimiter, takePoint } from "../../companion-services/platform/rate-limit.ts";
import type { NovaContext } from "../context.ts";
import type { Mailer } from "./mailer.ts";
import { type Purpose, resultPage, SUBMIT_PATHS, validationMail } from "./messages.ts";

const requestTokenBody = z.object({
  client_secret: z.string(),
  email: z.string().max(1024),
  send_attempt: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  next_link: z.string().max(2048).optional(),
  // An identity server to send the mail: Nova sends its own, as Synapse does with `email` set.
  id_server: z.string().optional(),
  id_access_token: z.string().optional(),
});

const submitBody = z.object({ sid: z.string(), client_secret: z.string(), token: z.string() });

/** Synapse's `client_secret` rule (spec: `[0-9a-zA-Z.=_-]`, 1 to 255 characters). */
const CLIENT_SECRET_RE = /^[0-9a-zA-Z.=_-]{1,255}$/;

/** What Synapse answers on each requestToken endpoint when it has no email configuration. */
const DISABLED: Record<Purpose, string> = {
  register: "Email-based registration has been disabled on this server",
  add: "Adding an email to your account is disabled on this server",
  reset: "Password resets have been disabled on this server",
};

const REQUEST_PATHS: Record<Purpose, string> = {
  register: "/_matrix/client/v3/register/email/requestToken",
  add: "/_matrix/client/v3/account/3pid/email/requestToken",
  reset: "/_matrix/client/v3/account/password/email/requestToken",
};

/**
 * The requestToken endpoints (spec §"Adding Account Administrative Contact Information") and the
 * link their mail carries. Identity opens the session and hands out the token; this area mails
 * it. Sends per address are throttled as Synapse's `rc_3pid_validation` (0.003/s, burst 5).
 */
export function mountEmailValidation(ctx: NovaContext, mailer: Mailer | null): void {
  const { router, identity, config, logger } = ctx;
  const throttle = bucketLimiter({ rate: 0.003, burst: 5 }, "email_validation");

  for (const purpose of ["register", "add", "reset"] as const) {
    router.post(
      REQUEST_PATHS[purpose],
      async (req) => {
        if (!mailer) throw new MatrixError(400, "M_UNKNOWN", DISABLED[purpose]);
        if (purpose === "register" && config.registration === "closed") {
          throw forbidden("Registration is disabled");
        }
        const body = req.json(requestTokenBody);
        if (!CLIENT_SECRET_RE.test(body.client_secret)) throw invalidParam("Invalid client_secret parameter");
        if (body.next_link !== undefined && !/^https?:\/\//i.test(body.next_link)) {
          throw invalidParam("next_link must be an http(s) URL");
        }
        await takePoint(throttle, body.email.trim().toLowerCase());
        const started = await identity.threepids.requestEmailValidation({
          purpose,
          clientSecret: body.client_secret,
          email: body.email,
          sendAttempt: body.send_attempt,
          nextLink: body.next_link,
        });
        const submitUrl = new URL(SUBMIT_PATHS[purpose], config.publicBaseUrl);
        if (started.token !== null) {
          const link = new URL(submitUrl);
          link.search = new URLSearchParams({
            token: started.token,
            client_secret: body.client_secret,
            sid: started.sid,
          }).toString();
          const mail = validationMail(
            purpose,
            started.address,
            link.toString(),
            config.serverName,
            EMAIL_TOKEN_TTL_MS / 60_000,
          );
          await mailer.send(mail).catch((err: unknown) => {
            logger.error({ err, purpose }, "sending a validation mail failed");
            throw new MatrixError(500, "M_UNKNOWN", "An error was encountered when sending the email");
          });
        }
        return { body: { sid: started.sid, submit_url: submitUrl.toString() } };
      },
      { auth: "none" },
    );
  }

  // The mailed link (GET: a page for the person who follows it) and submit_url (POST: JSON).
  const viaLink = async (req: Request): Promise<Response> => {
    const q = (name: string) => {
      const v = req.query.get(name);
      if (!v) throw new MatrixError(400, "M_MISSING_PARAM", `Missing string query parameter ${name}`);
      return v;
    };
    const creds = { token: q("token"), clientSecret: q("client_secret"), sid: q("sid") };
    try {
      const { nextLink } = await identity.threepids.submitEmailValidation(creds);
      if (nextLink) return { status: 302, headers: { Location: nextLink }, raw: Buffer.from("") };
      return html(200, resultPage(true, "Your email has been validated: return to your Matrix client."));
    } catch (err) {
      if (err instanceof MatrixError && err.status === 400) return html(400, resultPage(false, err.message));
      throw err;
    }
  };
  const viaApi = async (req: Request): Promise<Response> => {
    const body = req.json(submitBody);
    await identity.threepids.submitEmailValidation({
      sid: body.sid,
      clientSecret: body.client_secret,
      token: body.token,
    });
    return { body: { success: true } };
  };
  for (const path of new Set(Object.values(SUBMIT_PATHS))) {
    router.get(path, viaLink, { auth: "none" });
    router.post(path, viaApi, { auth: "none" });
  }
}

function html(status: number, page: string): Response {
  return { status, headers: { "Content-Type": "text/html; charset=utf-8" }, raw: Buffer.from(page) };
}
