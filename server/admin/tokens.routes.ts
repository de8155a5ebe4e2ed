import { z } from "zod";
import type { IdentityAdminClient } from "../../companion-services/identity/admin-client.ts";
import type { IdentityClient, RegistrationToken } from "../../companion-services/identity/client.ts";
import { notFound } from "../../companion-services/platform/errors.ts";
import { type AdminRoutes, boolQuery } from "../../companion-services/platform/http/admin-routes.ts";

const createBody = z.object({
  token: z.string().optional(),
  uses_allowed: z.number().int().nonnegative().nullable().optional(),
  expiry_time: z.number().int().nonnegative().nullable().optional(),
  length: z.number().int().min(1).max(64).optional(),
});
const updateBody = z.object({
  uses_allowed: z.number().int().nonnegative().nullable().optional(),
  expiry_time: z.number().int().nonnegative().nullable().optional(),
});

const tokenJson = (t: RegistrationToken) => ({
  token: t.token,
  uses_allowed: t.usesAllowed,
  pending: t.pending,
  completed: t.completed,
  expiry_time: t.expiryTime,
});

/** Synapse's registration tokens admin API over identity's invite codes (NOVA_REGISTRATION=token). */
export function mountAdminTokenRoutes(
  r: AdminRoutes,
  identity: IdentityClient,
  admin: IdentityAdminClient,
): void {
  r.get("/v1/registration_tokens", async (req) => ({
    body: {
      registration_tokens: (await admin.listRegistrationTokens(boolQuery(req, "valid"))).map(tokenJson),
    },
  }));
  r.post("/v1/registration_tokens/new", async (req) => {
    const b = req.json(createBody);
    const t = await identity.createRegistrationToken({
      token: b.token,
      usesAllowed: b.uses_allowed ?? null,
      expiryTime: b.expiry_time ?? null,
    });
    return { body: tokenJson(t) };
  });
  r.get("/v1/registration_tokens/:token", async (req) => {
    const t = await admin.getRegistrationToken(req.params.token!);
    if (!t) throw notFound("No such registration token");
    return { body: tokenJson(t) };
  });
  r.put("/v1/registration_tokens/:token", async (req) => {
    const b = req.json(updateBody);
    const t = await admin.updateRegistrationToken(req.params.token!, {
      usesAllowed: b.uses_allowed,
      expiryTime: b.expiry_time,
    });
    if (!t) throw notFound("No such registration token");
    return { body: tokenJson(t) };
  });
  r.delete("/v1/registration_tokens/:token", async (req) => {
    if (!(await admin.deleteRegistrationToken(req.params.token!)))
      throw notFound("No such registration token");
    return { body: {} };
  });
}
