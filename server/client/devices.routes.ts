import { z } from "zod";
import type { Device } from "../../companion-services/identity/client.ts";
import { notFound } from "../../companion-services/platform/errors.ts";
import type { Request } from "../../companion-services/platform/http/router.ts";
import type { NovaContext } from "../context.ts";
import { passwordStage } from "../routes/account.ts";
import { type UiaAuth, type UserInteractiveAuth, uiaAuthSchema } from "../uia.ts";

const deviceId = z.string().min(1).max(255);
const putDeviceBody = z.object({ display_name: z.string().max(255).nullable().optional() });
const deleteDeviceBody = z.object({ auth: uiaAuthSchema.optional() });
const deleteDevicesBody = z.object({ devices: z.array(deviceId).max(1000), auth: uiaAuthSchema.optional() });

function toJson(userId: string, d: Device) {
  return {
    device_id: d.deviceId,
    display_name: d.displayName,
    last_seen_ip: d.lastSeenIp,
    last_seen_ts: d.lastSeenTs,
    user_id: userId,
  };
}

/** Re-authenticates the caller with their password (UIA) before a destructive device operation. */
export async function requirePassword(
  ctx: NovaContext,
  uia: UserInteractiveAuth,
  req: Request,
  auth: UiaAuth | undefined,
): Promise<void> {
  await uia.require(
    auth,
    [["m.login.password"]],
    { "m.login.password": passwordStage(ctx, req.auth!) },
    {},
    { operation: `${req.method} ${req.path}` },
  );
}

/** Device management (spec §"Device Management"); deleting a device revokes its tokens. */
export function mountDeviceRoutes(ctx: NovaContext, uia: UserInteractiveAuth): void {
  const { router, identity } = ctx;

  router.get("/_matrix/client/v3/devices", async (req) => {
    const userId = req.auth!.userId;
    const devices = await identity.listDevices(userId);
    return { body: { devices: devices.map((d) => toJson(userId, d)) } };
  });

  router.get("/_matrix/client/v3/devices/:deviceId", async (req) => {
    const userId = req.auth!.userId;
    const d = await identity.getDevice(userId, req.params.deviceId!);
    if (!d) throw notFound("Unknown device");
    return { body: toJson(userId, d) };
  });

  router.put("/_matrix/client/v3/devices/:deviceId", async (req) => {
    const body = req.json(putDeviceBody);
    const userId = req.auth!.userId;
    if (!(await identity.getDevice(userId, req.params.deviceId!))) throw notFound("Unknown device");
    if (body.display_name !== undefined) {
      await identity.updateDevice(userId, req.params.deviceId!, body.display_name);
      await ctx.hooks.emit("deviceRenamed", {
        userId,
        deviceId: req.params.deviceId!,
        displayName: body.display_name,
      });
    }
    return { body: {} };
  });

  router.delete("/_matrix/client/v3/devices/:deviceId", async (req) => {
    const body = req.json(deleteDeviceBody);
    const userId = req.auth!.userId;
    if (!(await identity.getDevice(userId, req.params.deviceId!))) throw notFound("Unknown device");
    await requirePassword(ctx, uia, req, body.auth);
    await identity.revokeDevice(userId, req.params.deviceId!);
    return { body: {} };
  });

  router.post("/_matrix/client/v3/delete_devices", async (req) => {
    const body = req.json(deleteDevicesBody);
    await requirePassword(ctx, uia, req, body.auth);
    // Unknown devices are skipped, as Synapse does: the outcome the client asked for holds.
    for (const id of new Set(body.devices)) await identity.revokeDevice(req.auth!.userId, id);
    return { body: {} };
  });
}
