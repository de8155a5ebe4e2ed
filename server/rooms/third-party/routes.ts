import { z } from "zod";
import { fromZod, missingParam } from "../../../companion-services/platform/errors.ts";
import type { Request, Router } from "../../../companion-services/platform/http/router.ts";
import { parseRoomId } from "../../ids.ts";
import type { RoomsApi } from "../service.ts";
import type { SignedInvite, ThirdPartyInviteRequest } from "./invites.ts";

/** A host name or IP literal with an optional port: never a scheme, path or credentials. */
const ID_SERVER = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/** One 3PID to invite, as /invite and createRoom's `invite_3pid` take it. */
export const thirdPartyInviteSchema = z
  .object({
    id_server: z.string().min(1).max(255).regex(ID_SERVER, "must be a host name with an optional port"),
    id_access_token: z.string().min(1).max(1024),
    medium: z.enum(["email", "msisdn"]),
    address: z.string().min(1).max(320),
  })
  .superRefine((v, issue) => {
    const ok = v.medium === "email" ? /^[^@\s]+@[^@\s]+$/.test(v.address) : /^\d{1,20}$/.test(v.address);
    if (!ok)
      issue.addIssue({ code: "custom", path: ["address"], message: `not a valid ${v.medium} address` });
  });

/** The request a 3PID entry makes; email addresses are lowercased, as identity servers store them. */
export function thirdPartyInviteOf(v: z.infer<typeof thirdPartyInviteSchema>): ThirdPartyInviteRequest {
  return {
    idServer: v.id_server,
    idAccessToken: v.id_access_token,
    medium: v.medium,
    address: v.medium === "email" ? v.address.toLowerCase() : v.address,
  };
}

/**
 * An /invite body naming a 3PID (`medium` and `address`, Synapse's test), or null for a user
 * invite. Synapse asks for `id_server` and `id_access_token` with M_MISSING_PARAM.
 */
export function parseThirdPartyInviteBody(body: Record<string, unknown>): ThirdPartyInviteRequest | null {
  if (!("medium" in body) || !("address" in body)) return null;
  if (body.id_server === undefined || body.id_access_token === undefined)
    throw missingParam("id_server and id_access_token are required for a third-party invite");
  const r = thirdPartyInviteSchema.safeParse(body);
  if (!r.success) throw fromZod(r.error, "M_INVALID_PARAM");
  return thirdPartyInviteOf(r.data);
}

export const signedInviteSchema = z.looseObject({
  mxid: z.string().min(1).max(255),
  token: z.string().min(1).max(255),
  signatures: z.record(z.string(), z.record(z.string(), z.string())),
});

/** A join's `third_party_signed`: the signed invite and who sent the 3PID invite. */
export const thirdPartySignedSchema = signedInviteSchema.extend({ sender: z.string().min(1).max(255) });

const onbindBody = z.object({
  invites: z
    .array(
      z.looseObject({
        room_id: z.string(),
        sender: z.string(),
        mxid: z.string().optional(),
        signed: z.unknown(),
      }),
    )
    .max(100)
    .default([]),
});

/**
 * PUT /_matrix/federation/v1/3pid/onbind (spec server-server "Third-party invites"): an identity
 * server tells the homeserver that a 3PID with pending invites was bound to a user; each invite is
 * exchanged for an invite of that user. Unauthenticated, as the spec has it: what admits the user
 * is the identity server's signature on each invite, checked by the auth rules. Synapse answers
 * POST too (the conformance suite's identity server uses it). This is the only federation
 * endpoint of this kind Nova serves; it makes no request to other homeservers.
 */
export function mountThirdPartyRoutes(router: Router, rooms: RoomsApi): void {
  const onbind = async (req: Request) => {
    const { invites } = req.json(onbindBody);
    let failure: unknown = null;
    for (const invite of invites) {
      const signed = signedInviteSchema.safeParse(invite.signed);
      // Synapse skips an invite without a signed token and answers for the rest.
      if (!signed.success) continue;
      try {
        await rooms.exchangeThirdPartyInvite(
          parseRoomId(invite.room_id),
          invite.sender,
          signed.data as SignedInvite,
        );
      } catch (err) {
        failure = err;
      }
    }
    // As Synapse: every invite is tried, then the last failure (if any) is the answer.
    if (failure) throw failure;
    return { body: {} };
  };
  router.put("/_matrix/federation/v1/3pid/onbind", onbind, { auth: "none" });
  router.post("/_matrix/federation/v1/3pid/onbind", onbind, { auth: "none" });
}
