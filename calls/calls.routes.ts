import { z } from "zod";
import { invalidParam } from "../companion-services/platform/errors.ts";
import type { Request } from "../companion-services/platform/http/router.ts";
import type { NovaContext } from "../server/context.ts";
import type { CallService } from "./call-service.ts";

/**
 * Group-call signaling. Under `/_matrix/` so that a client can send each call as a `request`
 * frame on its sync WebSocket (sync/ws dispatches those through this router) as well as over HTTP.
 */
export const CALLS_PREFIX = "/_matrix/client/unstable/org.nova.calls";

/** SDPs of a few dozen m-sections stay well below this; it bounds what the SFU has to parse. */
const MAX_SDP = 64 * 1024;
const sdpBody = z.object({ sdp: z.string().min(1).max(MAX_SDP) });
const joinBody = z.object({ max_bitrate: z.number().int().min(30_000).max(50_000_000).optional() });
const iceBody = z.object({
  transport: z.enum(["send", "recv"]),
  candidate: z.object({
    candidate: z.string().max(1024),
    sdpMid: z.string().max(64).nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(),
  }),
});
const muteBody = z.object({ kind: z.enum(["audio", "video"]), muted: z.boolean() });
const eventsQuery = z.object({
  since: z.coerce.number().int().min(0).default(0),
  timeout: z.coerce.number().int().min(0).max(60_000).default(30_000),
});

const caller = (req: Request) => ({ userId: req.auth!.userId, deviceId: req.auth!.deviceId });

export function mountCallRoutes(ctx: NovaContext, calls: CallService): void {
  const r = ctx.router;
  r.post(`${CALLS_PREFIX}/rooms/:roomId/join`, async (req) => ({
    body: await calls.join(caller(req), req.params.roomId!, {
      maxBitrate: req.json(joinBody).max_bitrate,
    }),
  }));
  r.post(`${CALLS_PREFIX}/calls/:callId/publish`, async (req) => ({
    body: await calls.publish(caller(req), req.params.callId!, req.json(sdpBody).sdp),
  }));
  r.post(`${CALLS_PREFIX}/calls/:callId/subscribe`, async (req) => ({
    body: await calls.subscribe(caller(req), req.params.callId!),
  }));
  r.post(`${CALLS_PREFIX}/calls/:callId/answer`, async (req) => {
    await calls.answer(caller(req), req.params.callId!, req.json(sdpBody).sdp);
    return { body: {} };
  });
  r.post(`${CALLS_PREFIX}/calls/:callId/ice`, async (req) => {
    const b = req.json(iceBody);
    await calls.ice(caller(req), req.params.callId!, b.transport, b.candidate);
    return { body: {} };
  });
  r.post(`${CALLS_PREFIX}/calls/:callId/mute`, async (req) => {
    const b = req.json(muteBody);
    await calls.mute(caller(req), req.params.callId!, b.kind, b.muted);
    return { body: {} };
  });
  r.post(`${CALLS_PREFIX}/calls/:callId/leave`, async (req) => {
    await calls.leave(caller(req), req.params.callId!);
    return { body: {} };
  });
  r.get(`${CALLS_PREFIX}/calls/:callId/events`, async (req) => {
    const q = eventsQuery.safeParse(Object.fromEntries(req.query));
    if (!q.success) throw invalidParam("since and timeout must be non-negative integers (timeout ≤ 60000)");
    return {
      body: await calls.events(caller(req), req.params.callId!, q.data.since, q.data.timeout, req.aborted),
    };
  });
}
