import { z } from "zod";

/**
 * The events identity publishes through its outbox, on topic `nova.user.events`, keyed by user
 * id (so one user's events keep their order). Consumers validate payloads with these schemas.
 */
export const IDENTITY_AGGREGATE = "user";

export const userRegistered = z.object({
  user_id: z.string().startsWith("@"),
  localpart: z.string().min(1),
  is_guest: z.boolean(),
  created_at: z.number().int(),
});

export const deviceCreated = z.object({
  user_id: z.string().startsWith("@"),
  device_id: z.string().min(1),
});

/** A device's session is gone (logout, deletion, password change): its token is dead at once. */
export const deviceRevoked = z.object({
  user_id: z.string().startsWith("@"),
  device_id: z.string().min(1),
  session_id: z.string().min(1),
  reason: z.enum(["logout", "logout_all", "deleted", "password_change", "relogin", "deactivated"]),
});

export const profileUpdated = z.object({
  user_id: z.string().startsWith("@"),
  displayname: z.string().nullable(),
  avatar_url: z.string().nullable(),
});

/** An account was deactivated (its sessions are revoked in the same transaction). */
export const userDeactivated = z.object({
  user_id: z.string().startsWith("@"),
  erased: z.boolean(),
  deactivated_at: z.number().int(),
});

/** A guest became a full account, keeping its user id. */
export const guestUpgraded = z.object({
  user_id: z.string().startsWith("@"),
});

export const IDENTITY_EVENTS = {
  "user.registered": userRegistered,
  "device.created": deviceCreated,
  "device.revoked": deviceRevoked,
  "user.profile_updated": profileUpdated,
  "user.deactivated": userDeactivated,
  "user.guest_upgraded": guestUpgraded,
} as const;

export type IdentityEventType = keyof typeof IDENTITY_EVENTS;
export type IdentityEventPayload<T extends IdentityEventType> = z.infer<(typeof IDENTITY_EVENTS)[T]>;

/** An outbox entry for an identity event, typed by event type. */
export function identityEvent<T extends IdentityEventType>(
  eventType: T,
  payload: IdentityEventPayload<T>,
): { aggregateType: string; aggregateId: string; eventType: T; payload: IdentityEventPayload<T> } {
  return { aggregateType: IDENTITY_AGGREGATE, aggregateId: payload.user_id, eventType, payload };
}
