import { z } from "zod";
import type { IdentityClient, ValidatedThreepid } from "../../companion-services/identity/client.ts";
import { MatrixError } from "../../companion-services/platform/errors.ts";
import type { StageHandler, UiaAuth } from "../uia.ts";

export const EMAIL_STAGE = "m.login.email.identity";

const creds = z.object({ sid: z.string().min(1).max(255), client_secret: z.string().min(1).max(255) });

/**
 * The m.login.email.identity UIA stage (spec §"Email-based (identity / homeserver)"): the
 * `threepid_creds` of a validation session whose mail link was followed. The session is used up;
 * the stage's result is the validated address (ValidatedThreepid), which the UIA session keeps.
 */
export function emailIdentityStage(identity: IdentityClient): StageHandler {
  return async (auth: UiaAuth) => {
    // Synapse still reads the pre-r0 spelling.
    const parsed = creds.safeParse(auth.threepid_creds ?? auth.threepidCreds);
    if (!parsed.success) throw new MatrixError(400, "M_MISSING_PARAM", "Missing threepid_creds");
    const threepid = await identity.threepids.takeValidatedThreepid({
      sid: parsed.data.sid,
      clientSecret: parsed.data.client_secret,
    });
    if (!threepid) throw new MatrixError(401, "M_UNAUTHORIZED", "No validated 3pid session found");
    return { ...threepid };
  };
}

/** The address an email stage established, from `UserInteractiveAuth.run`'s results. */
export function validatedEmail(results: Record<string, Record<string, unknown>>): ValidatedThreepid | null {
  const r = results[EMAIL_STAGE];
  if (!r || typeof r.address !== "string" || typeof r.medium !== "string") return null;
  return { medium: r.medium, address: r.address, validatedAt: Number(r.validatedAt) };
}
