import { z } from "zod";

/**
 * The search service's settings: its own listener and gRPC in distributed mode, and where the
 * homeserver reaches it. One part of the process's configuration (server/config.ts composes it).
 */
export const searchEnvSchema = z.object({
  /** `nova serve search`: its HTTP listener (`/_nova/v1/search`). */
  SEARCH_HTTP_HOST: z.string().default("127.0.0.1"),
  SEARCH_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8015),
  /** `nova serve search`: where its gRPC server listens. */
  SEARCH_GRPC_LISTEN: z.string().default("127.0.0.1:50057"),
  /** The homeserver in distributed mode: search's gRPC address (unset: search runs in-process or not at all). */
  SEARCH_GRPC_ADDRESS: z.string().optional(),
});

export type SearchEnv = z.infer<typeof searchEnvSchema>;

export type SearchConfig = {
  search: { httpHost: string; httpPort: number; grpcListen: string; grpcAddress: string | null };
};

export function searchConfig(e: SearchEnv): SearchConfig {
  return {
    search: {
      httpHost: e.SEARCH_HTTP_HOST,
      httpPort: e.SEARCH_HTTP_PORT,
      grpcListen: e.SEARCH_GRPC_LISTEN,
      grpcAddress: e.SEARCH_GRPC_ADDRESS ?? null,
    },
  };
}
