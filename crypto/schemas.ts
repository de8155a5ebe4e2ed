import { z } from "zod";
import { isValidUserId } from "../server/ids.ts";

/** A Matrix user id, by the one grammar every area checks ids with (server/ids.ts). */
export const userIdSchema = z.string().refine(isValidUserId, "not a Matrix user id");

export const deviceIdSchema = z.string().min(1).max(255);

/** `signatures`: user id → key id → signature. */
export const signaturesSchema = z.record(z.string(), z.record(z.string(), z.string()));

/** A KeyObject (`signed_curve25519`) or a bare key string (legacy `curve25519`). */
export const keyObjectSchema = z.union([
  z.string(),
  z.looseObject({
    key: z.string(),
    signatures: signaturesSchema.optional(),
    fallback: z.boolean().optional(),
  }),
]);

/**
 * Only user_id and device_id are required, as Synapse stores device keys: a device whose keys are
 * incomplete or unsigned is one that clients' crypto will not trust, not a server error.
 */
export const deviceKeysSchema = z.looseObject({
  user_id: z.string(),
  device_id: z.string(),
  algorithms: z.array(z.string().max(255)).max(64).optional(),
  keys: z.record(z.string(), z.string()).optional(),
  signatures: signaturesSchema.optional(),
});

export const keysUploadBody = z.object({
  device_keys: deviceKeysSchema.optional(),
  one_time_keys: z.record(z.string(), keyObjectSchema).optional(),
  fallback_keys: z.record(z.string(), keyObjectSchema).optional(),
});

export const keysQueryBody = z.object({
  device_keys: z.record(z.string(), z.array(z.string()).max(10_000)),
  timeout: z.number().int().nonnegative().optional(),
  token: z.string().optional(),
});

export const keysClaimBody = z.object({
  one_time_keys: z.record(z.string(), z.record(z.string(), z.string().min(1).max(255))),
  timeout: z.number().int().nonnegative().optional(),
});

export const sendToDeviceBody = z.object({
  messages: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.unknown()))),
});

export const crossSigningKeySchema = z.looseObject({
  user_id: z.string(),
  usage: z.array(z.string()).min(1),
  keys: z.record(z.string(), z.string()),
  signatures: signaturesSchema.optional(),
});

export const keyBackupDataSchema = z.looseObject({
  first_message_index: z.number().int().nonnegative(),
  forwarded_count: z.number().int().nonnegative(),
  is_verified: z.boolean(),
  session_data: z.record(z.string(), z.unknown()),
});

export const roomKeyBackupSchema = z.object({
  sessions: z.record(z.string(), keyBackupDataSchema),
});

export const roomKeysBody = z.object({
  rooms: z.record(z.string(), roomKeyBackupSchema),
});

export const backupVersionBody = z.object({
  algorithm: z.string().min(1).max(255),
  // An object in the spec; Synapse stores whatever JSON it is given (sytest sends a string), and
  // only the client that wrote it reads it back.
  auth_data: z.union([z.record(z.string(), z.unknown()), z.string().max(65_536)]),
  version: z.string().optional(),
});

export const dehydratedDeviceBody = z.object({
  device_id: deviceIdSchema,
  device_data: z.looseObject({ algorithm: z.string().min(1) }),
  initial_device_display_name: z.string().max(255).optional(),
  device_keys: deviceKeysSchema,
  one_time_keys: z.record(z.string(), keyObjectSchema).optional(),
  fallback_keys: z.record(z.string(), keyObjectSchema).optional(),
});
