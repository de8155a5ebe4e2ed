import { z } from "zod";
import { splitList } from "../companion-services/platform/config.ts";

/**
 * Calls' settings: TURN, which SFU implementation, the address its ICE binds and announces,
 * limits and timers. One part of the process's configuration (server/config.ts parses the
 * environment once).
 */
export const callsEnvSchema = z.object({
  NOVA_TURN_URIS: z.string().default(""),
  NOVA_TURN_SECRET: z.string().default(""),
  NOVA_TURN_TTL: z.coerce.number().int().positive().default(86400),
  NOVA_SFU: z.enum(["werift", "mediasoup"]).default("werift"),
  NOVA_SFU_ICE_ADDRESS: z.string().optional(),
  NOVA_SFU_MAX_BITRATE: z.coerce.number().int().positive().default(1_500_000),
  NOVA_CALL_GRACE_MS: z.coerce.number().int().positive().default(10_000),
  NOVA_CALL_ICE_TIMEOUT_MS: z.coerce.number().int().positive().default(20_000),
  /** The mediasoup-worker binary (NOVA_SFU=mediasoup); mediasoup itself spawns it from this variable. */
  MEDIASOUP_WORKER_BIN: z.string().optional(),
});

export type CallsConfig = {
  turn: { uris: string[]; secret: string; ttl: number };
  calls: {
    sfu: "werift" | "mediasoup";
    iceAddress: string | undefined;
    maxVideoBitrate: number;
    graceMs: number;
    iceTimeoutMs: number;
    /** MEDIASOUP_WORKER_BIN: needed when sfu is mediasoup. */
    mediasoupWorkerBin: string | undefined;
  };
};

export function callsConfig(e: z.infer<typeof callsEnvSchema>): CallsConfig {
  return {
    turn: {
      uris: splitList(e.NOVA_TURN_URIS),
      secret: e.NOVA_TURN_SECRET,
      ttl: e.NOVA_TURN_TTL,
    },
    calls: {
      sfu: e.NOVA_SFU,
      iceAddress: e.NOVA_SFU_ICE_ADDRESS,
      maxVideoBitrate: e.NOVA_SFU_MAX_BITRATE,
      graceMs: e.NOVA_CALL_GRACE_MS,
      iceTimeoutMs: e.NOVA_CALL_ICE_TIMEOUT_MS,
      mediasoupWorkerBin: e.MEDIASOUP_WORKER_BIN,
    },
  };
}
