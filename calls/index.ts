import type { Kysely } from "kysely";
import type { NovaContext } from "../server/context.ts";
import { type CallRooms, CallService } from "./call-service.ts";
import { CallsRepository, type CallTables } from "./calls.repository.ts";
import { mountCallRoutes } from "./calls.routes.ts";
import { reportCallMetrics } from "./metrics.ts";
import type { Sfu, SfuOptions, SfuRouter } from "./sfu.ts";
import { mountTurnRoutes } from "./turn.routes.ts";

export { CallService } from "./call-service.ts";

/** Picks the SFU implementation from config, once, at wiring time. */
export async function createSfu(ctx: NovaContext): Promise<Sfu> {
  const c = ctx.config.calls;
  const options: SfuOptions = { iceAddress: c.iceAddress, maxVideoBitrate: c.maxVideoBitrate };
  if (c.sfu === "mediasoup") {
    // Loaded only when chosen: the package needs its C++ worker (MEDIASOUP_WORKER_BIN).
    const { MediasoupSfu } = await import("./sfu/mediasoup.ts");
    return MediasoupSfu.start({ ...options, workerBin: c.mediasoupWorkerBin });
  }
  return new LazyWeriftSfu(options);
}

/**
 * werift (the default SFU) and its WebRTC stack load with the first group call's router, not at
 * start: a server that never hosts a group call does not pay their start time and memory.
 */
class LazyWeriftSfu implements Sfu {
  readonly name = "werift";
  private loaded: Promise<Sfu> | null = null;

  constructor(private readonly options: SfuOptions) {}

  async createRouter(callId: string): Promise<SfuRouter> {
    this.loaded ??= import("./sfu/werift.ts").then(
      ({ WeriftSfu }) => new WeriftSfu(this.options),
      (err: unknown) => {
        this.loaded = null;
        throw err;
      },
    );
    return (await this.loaded).createRouter(callId);
  }

  async close(): Promise<void> {
    if (this.loaded) await (await this.loaded).close();
  }
}

/** Mounts the calls area: TURN credentials and group-call signaling on the SFU. */
export async function mountCalls(ctx: NovaContext, deps: { rooms: CallRooms }): Promise<CallService> {
  mountTurnRoutes(ctx);
  const repo = new CallsRepository(ctx.databases.get<unknown>("messaging").db as Kysely<CallTables>);
  const calls = new CallService({
    sfu: await createSfu(ctx),
    rooms: deps.rooms,
    repo,
    logger: ctx.logger.child({ area: "calls" }),
    graceMs: ctx.config.calls.graceMs,
    iceTimeoutMs: ctx.config.calls.iceTimeoutMs,
    maxVideoBitrate: ctx.config.calls.maxVideoBitrate,
  });
  await calls.recover();
  mountCallRoutes(ctx, calls);
  ctx.hooks.on("membershipChanged", (e) => calls.onMembershipChanged(e.roomId, e.userId, e.membership));
  const unreport = reportCallMetrics(() => calls.stats());
  ctx.onClose(async () => {
    unreport();
    await calls.close();
  });
  return calls;
}
