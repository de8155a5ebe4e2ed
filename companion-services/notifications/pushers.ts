import type { Kysely } from "kysely";
import { z } from "zod";
import { badJson, fromZod, invalidParam, missingParam } from "../platform/errors.ts";
import { type PusherRow, PushersRepository } from "./pushers.repository.ts";
import type { NotificationsTables } from "./tables.ts";

export const NOTIFY_PATH = "/_matrix/push/v1/notify";

const LIMITS = {
  appId: 64,
  pushkeyBytes: 512,
  displayName: 256,
  lang: 64,
  profileTag: 256,
  url: 2048,
  dataBytes: 8 * 1024,
};

const REQUIRED = [
  "kind",
  "app_id",
  "app_display_name",
  "device_display_name",
  "pushkey",
  "lang",
  "data",
] as const;

const pushkey = z
  .string()
  .min(1)
  .refine((s) => Buffer.byteLength(s) <= LIMITS.pushkeyBytes, `at most ${LIMITS.pushkeyBytes} bytes`);
const appId = z.string().min(1).max(LIMITS.appId);

const deleteBody = z.object({ kind: z.null(), app_id: appId, pushkey });

const httpData = z
  .object({
    url: z.string().max(LIMITS.url).refine(isNotifyUrl, `must be an http(s) URL ending in ${NOTIFY_PATH}`),
    // Any string is kept (clients send typos such as "id_event_only"); only event_id_only means something.
    format: z.string().max(64).optional(),
  })
  .catchall(z.unknown())
  .refine(
    (d) => Buffer.byteLength(JSON.stringify(d)) <= LIMITS.dataBytes,
    `at most ${LIMITS.dataBytes} bytes`,
  );

const setBody = z.object({
  kind: z.literal("http"),
  app_id: appId,
  pushkey,
  app_display_name: z.string().max(LIMITS.displayName),
  device_display_name: z.string().max(LIMITS.displayName),
  profile_tag: z.string().max(LIMITS.profileTag).nullable().optional(),
  lang: z.string().max(LIMITS.lang),
  data: httpData,
  append: z.boolean().optional(),
});

export type PusherSet =
  | { op: "delete"; appId: string; pushkey: string }
  | { op: "set"; body: z.infer<typeof setBody> };

function isNotifyUrl(s: string): boolean {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return false;
  }
  return (url.protocol === "https:" || url.protocol === "http:") && url.pathname.endsWith(NOTIFY_PATH);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Reads a `/pushers/set` body: an absent required field is M_MISSING_PARAM (listing them all, as
 * Synapse does), a present one of the wrong type or value M_INVALID_PARAM.
 */
export function parsePusherSet(body: unknown): PusherSet {
  if (!isObject(body)) throw badJson("Content must be a JSON object.");
  if (body.kind === null) {
    const missing = (["app_id", "pushkey"] as const).filter((k) => !(k in body));
    if (missing.length > 0) throw missingParam(`Missing parameters: ${missing.join(", ")}`);
    const r = deleteBody.safeParse({ kind: null, app_id: body.app_id, pushkey: body.pushkey });
    if (!r.success) throw fromZod(r.error, "M_INVALID_PARAM");
    return { op: "delete", appId: r.data.app_id, pushkey: r.data.pushkey };
  }
  const missing = REQUIRED.filter((k) => !(k in body));
  if (missing.length > 0) throw missingParam(`Missing parameters: ${missing.join(", ")}`);
  if (body.kind === "email") throw invalidParam("email pushers are not supported");
  if (body.kind !== "http") throw invalidParam("kind must be http (or null to delete the pusher)");
  if (isObject(body.data) && !("url" in body.data))
    throw missingParam("data.url is required for http pushers");
  const r = setBody.safeParse(body);
  if (!r.success) throw fromZod(r.error, "M_INVALID_PARAM");
  return { op: "set", body: r.data };
}

/** A pusher as `GET /pushers` shows it: no device or failure bookkeeping. */
export function clientPusher(row: PusherRow): Record<string, unknown> {
  return {
    pushkey: row.pushkey,
    kind: row.kind,
    app_id: row.app_id,
    app_display_name: row.app_display_name,
    device_display_name: row.device_display_name,
    ...(row.profile_tag !== null ? { profile_tag: row.profile_tag } : {}),
    lang: row.lang,
    data: row.data,
  };
}

/** The pushers API: list, upsert and delete, each a user's own. */
export class Pushers {
  readonly repo: PushersRepository;

  constructor(
    private readonly db: Kysely<NotificationsTables>,
    private readonly now: () => number = Date.now,
  ) {
    this.repo = new PushersRepository(db);
  }

  async list(userId: string): Promise<Record<string, unknown>[]> {
    return (await this.repo.listFor(userId)).map(clientPusher);
  }

  async set(userId: string, deviceId: string | null, req: PusherSet): Promise<void> {
    if (req.op === "delete") {
      await this.repo.deleteOne(this.db, userId, req.appId, req.pushkey);
      return;
    }
    const b = req.body;
    await this.db.transaction().execute(async (trx) => {
      if (b.append !== true) await this.repo.deleteOthers(trx, b.app_id, b.pushkey, userId);
      await this.repo.upsert(
        trx,
        {
          userId,
          deviceId,
          appId: b.app_id,
          pushkey: b.pushkey,
          kind: "http",
          appDisplayName: b.app_display_name,
          deviceDisplayName: b.device_display_name,
          profileTag: b.profile_tag ?? null,
          lang: b.lang,
          data: b.data,
        },
        this.now(),
      );
    });
  }
}
