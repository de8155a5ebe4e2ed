import { invalidParam } from "../../companion-services/platform/errors.ts";
import type { Router } from "../../companion-services/platform/http/router.ts";
import type { PresencePort, SyncPresenceState } from "../../sync/presence-port.ts";
import { slidingSyncBody } from "./schema.ts";
import type { SlidingSyncService } from "./service.ts";

export const SLIDING_SYNC_PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

/** Longest long-poll a client may ask for (tuwunel caps at 90 s; clients use 30 s). */
const MAX_TIMEOUT_MS = 90_000;
/** Answer a little before the client's own timeout (element-x-ios#5450). */
const EARLY_MS = 500;

/**
 * `pos`, `timeout` and `set_presence` come in the query string, as ruma (and so Element X) sends
 * them; the merged MSC moved them into the body, which is read too, the query winning. Not rate
 * limited: ruma marks the endpoint so and clients call it in a loop.
 */
export function mountSlidingSyncRoutes(
  router: Router,
  service: SlidingSyncService,
  presence?: PresencePort,
): void {
  router.post(SLIDING_SYNC_PATH, async (req) => {
    const auth = req.auth!;
    const body = req.json(slidingSyncBody);
    const q = req.query;
    const pos = q.get("pos") ?? body.pos ?? null;
    const timeoutMs = parseTimeout(q.get("timeout") ?? (body.timeout != null ? String(body.timeout) : null));
    const setPresence = q.get("set_presence") ?? body.set_presence ?? "online";
    if (!isPresenceState(setPresence))
      throw invalidParam("set_presence must be online, offline or unavailable");
    await presence?.syncing(auth.userId, setPresence);
    const response = await service.sync({
      userId: auth.userId,
      deviceId: auth.deviceId,
      body,
      pos: pos === "" ? null : pos,
      timeoutMs,
      aborted: req.aborted,
    });
    return { body: response };
  });
}

function parseTimeout(s: string | null): number {
  if (s === null || s === "") return 0;
  if (!/^[0-9]{1,12}$/.test(s)) throw invalidParam("timeout must be a non-negative integer");
  const ms = Math.min(Number(s), MAX_TIMEOUT_MS);
  return ms > EARLY_MS * 4 ? ms - EARLY_MS : ms;
}

function isPresenceState(s: string): s is SyncPresenceState {
  return s === "online" || s === "offline" || s === "unavailable";
}
