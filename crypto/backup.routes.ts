import { forbidden, notFound } from "../companion-services/platform/errors.ts";
import type { Request } from "../companion-services/platform/http/router.ts";
import type { NovaContext } from "../server/context.ts";
import { type KeyBackup, toKeyBackupData } from "./backup.ts";
import { entry } from "./collections.ts";
import { backupVersionBody, keyBackupDataSchema, roomKeyBackupSchema, roomKeysBody } from "./schemas.ts";
import type { JsonObject } from "./tables.ts";

const V3 = "/_matrix/client/v3/room_keys";

function user(req: Request): string {
  if (req.auth!.isGuest) throw forbidden("Guests cannot use key backup");
  return req.auth!.userId;
}

/** /room_keys/version… and /room_keys/keys… (spec "Server-side key backups"). */
export function mountBackupRoutes(ctx: NovaContext, backup: KeyBackup): void {
  const { router } = ctx;

  router.post(`${V3}/version`, async (req) => {
    const body = req.json(backupVersionBody);
    return {
      body: { version: await backup.createVersion(user(req), body.algorithm, body.auth_data) },
    };
  });
  router.get(`${V3}/version`, async (req) => ({ body: await backup.info(user(req), null) }));
  router.get(`${V3}/version/:version`, async (req) => ({
    body: await backup.info(user(req), req.params.version!),
  }));
  router.put(`${V3}/version/:version`, async (req) => {
    const body = req.json(backupVersionBody);
    await backup.updateVersion(user(req), req.params.version!, {
      ...body,
      auth_data: body.auth_data,
    });
    return { body: {} };
  });
  router.delete(`${V3}/version/:version`, async (req) => {
    await backup.deleteVersion(user(req), req.params.version!);
    return { body: {} };
  });

  const version = (req: Request) => req.query.get("version");

  router.put(`${V3}/keys`, async (req) => {
    const body = req.json(roomKeysBody);
    const rooms = Object.fromEntries(Object.entries(body.rooms).map(([r, v]) => [r, v.sessions]));
    return { body: await backup.put(user(req), version(req), rooms) };
  });
  router.put(`${V3}/keys/:roomId`, async (req) => {
    const body = req.json(roomKeyBackupSchema);
    return { body: await backup.put(user(req), version(req), { [req.params.roomId!]: body.sessions }) };
  });
  router.put(`${V3}/keys/:roomId/:sessionId`, async (req) => {
    const body = req.json(keyBackupDataSchema);
    return {
      body: await backup.put(user(req), version(req), {
        [req.params.roomId!]: { [req.params.sessionId!]: body },
      }),
    };
  });

  router.get(`${V3}/keys`, async (req) => {
    const rooms: Record<string, { sessions: Record<string, JsonObject> }> = {};
    for (const s of await backup.get(user(req), version(req))) {
      entry(rooms, s.roomId, () => ({ sessions: {} })).sessions[s.sessionId] = toKeyBackupData(s);
    }
    return { body: { rooms } };
  });
  router.get(`${V3}/keys/:roomId`, async (req) => {
    const sessions: Record<string, JsonObject> = {};
    for (const s of await backup.get(user(req), version(req), req.params.roomId!)) {
      sessions[s.sessionId] = toKeyBackupData(s);
    }
    return { body: { sessions } };
  });
  router.get(`${V3}/keys/:roomId/:sessionId`, async (req) => {
    const [s] = await backup.get(user(req), version(req), req.params.roomId!, req.params.sessionId!);
    if (!s) throw notFound("No room_keys found");
    return { body: toKeyBackupData(s) };
  });

  router.delete(`${V3}/keys`, async (req) => ({ body: await backup.delete(user(req), version(req)) }));
  router.delete(`${V3}/keys/:roomId`, async (req) => ({
    body: await backup.delete(user(req), version(req), req.params.roomId!),
  }));
  router.delete(`${V3}/keys/:roomId/:sessionId`, async (req) => ({
    body: await backup.delete(user(req), version(req), req.params.roomId!, req.params.sessionId!),
  }));
}
