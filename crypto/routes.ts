import { z } from "zod";
import { MatrixError, missingParam } from "../companion-services/platform/errors.ts";
import type { AuthInfo, Request } from "../companion-services/platform/http/router.ts";
import type { NovaContext } from "../server/context.ts";
import { passwordStage } from "../server/routes/account.ts";
import { type UserInteractiveAuth, uiaAuthSchema } from "../server/uia.ts";
import { parseSyncToken } from "../sync/token.ts";
import { prepareDeviceSigning, storeDeviceSigning, uploadSignatures } from "./cross-signing.ts";
import type { KeyServer } from "./key-server.ts";
import {
  crossSigningKeySchema,
  keysClaimBody,
  keysQueryBody,
  keysUploadBody,
  sendToDeviceBody,
  userIdSchema,
} from "./schemas.ts";
import { sendToDevice } from "./to-device.ts";

const V3 = "/_matrix/client/v3";

/** Requests larger than the server default: 250 Olm messages, or a fan-out to many devices. */
const TO_DEVICE_MAX_BODY = 16 * 1024 * 1024;

const deviceSigningBody = z.object({
  master_key: crossSigningKeySchema.optional(),
  self_signing_key: crossSigningKeySchema.optional(),
  user_signing_key: crossSigningKeySchema.optional(),
  auth: uiaAuthSchema.optional(),
});

const signaturesBody = z.record(z.string(), z.record(z.string(), z.unknown()));

/** Key routes act for a device: a token without one cannot hold keys. */
function device(req: Request): AuthInfo {
  const auth = req.auth!;
  if (!auth.deviceId) throw new MatrixError(400, "M_INVALID_PARAM", "This access token has no device");
  return auth;
}

function checkUserIds(ids: Iterable<string>): void {
  for (const id of ids) {
    if (!userIdSchema.safeParse(id).success)
      throw new MatrixError(400, "M_INVALID_PARAM", `invalid user id: ${id}`);
  }
}

export function mountKeyRoutes(ctx: NovaContext, keys: KeyServer, uia: UserInteractiveAuth): void {
  const { router } = ctx;

  router.post(`${V3}/keys/upload`, async (req) => {
    const auth = device(req);
    return { body: await keys.upload(auth.userId, auth.deviceId, req.json(keysUploadBody)) };
  });

  router.post(`${V3}/keys/query`, async (req) => {
    const body = req.json(keysQueryBody);
    checkUserIds(Object.keys(body.device_keys));
    const json = await keys.query(req.auth!.userId, body.device_keys);
    return { raw: Buffer.from(json), headers: { "Content-Type": "application/json" } };
  });

  router.post(`${V3}/keys/claim`, async (req) => {
    const body = req.json(keysClaimBody);
    checkUserIds(Object.keys(body.one_time_keys));
    let n = 0;
    for (const devices of Object.values(body.one_time_keys)) n += Object.keys(devices).length;
    if (n > 10_000) throw new MatrixError(400, "M_INVALID_PARAM", "at most 10000 devices per claim");
    return { body: await keys.claim(body.one_time_keys) };
  });

  router.get(`${V3}/keys/changes`, async (req) => {
    const from = req.query.get("from");
    if (!from) throw missingParam("from is required");
    const to = req.query.get("to");
    const fromPos = parseSyncToken(from).stream;
    const current = ctx.streams.current();
    const toPos = to ? Math.min(parseSyncToken(to).stream, current) : current;
    return { body: await keys.deviceListChanges(req.auth!.userId, fromPos, toPos) };
  });

  router.put(
    `${V3}/sendToDevice/:eventType/:txnId`,
    async (req) => {
      const auth = device(req);
      if (req.params.eventType!.length > 255 || req.params.txnId!.length > 255) {
        throw new MatrixError(400, "M_INVALID_PARAM", "event type and txnId are limited to 255 characters");
      }
      const body = req.json(sendToDeviceBody);
      await sendToDevice(keys, auth, req.params.eventType!, req.params.txnId!, body.messages);
      return { body: {} };
    },
    { maxBody: TO_DEVICE_MAX_BODY },
  );

  router.post(`${V3}/keys/device_signing/upload`, async (req) => {
    const auth = req.auth!;
    const body = req.json(deviceSigningBody);
    const { upload, needsAuth } = await prepareDeviceSigning(keys, auth.userId, body);
    if (needsAuth) {
      await uia.require(body.auth, [["m.login.password"]], { "m.login.password": passwordStage(ctx, auth) });
    }
    await storeDeviceSigning(keys, auth.userId, upload);
    return { body: {} };
  });

  router.post(`${V3}/keys/signatures/upload`, async (req) => {
    const body = req.json(signaturesBody);
    checkUserIds(Object.keys(body));
    return {
      body: await uploadSignatures(keys, req.auth!.userId, body as Record<string, Record<string, unknown>>),
    };
  });
}
