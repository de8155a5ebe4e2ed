import { z } from "zod";

/**
 * The graph service's settings: its own listeners in distributed mode (`nova serve graph`). One
 * part of the process's configuration (server/config.ts composes it).
 */
export const graphEnvSchema = z.object({
  /** `nova serve graph`: its HTTP listener (`/_nova/v1/users/{userId}/follow…`). */
  GRAPH_HTTP_HOST: z.string().default("127.0.0.1"),
  GRAPH_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8012),
  /** Where `nova serve graph` serves graph.proto, and where the other services reach it. */
  GRAPH_GRPC_LISTEN: z.string().default("127.0.0.1:50055"),
  GRAPH_GRPC_ADDRESS: z.string().default("127.0.0.1:50055"),
});

export type GraphEnv = z.infer<typeof graphEnvSchema>;

export type GraphConfig = {
  graph: { httpHost: string; httpPort: number; grpcListen: string; grpcAddress: string };
};

export function graphConfig(e: GraphEnv): GraphConfig {
  return {
    graph: {
      httpHost: e.GRAPH_HTTP_HOST,
      httpPort: e.GRAPH_HTTP_PORT,
      grpcListen: e.GRAPH_GRPC_LISTEN,
      grpcAddress: e.GRAPH_GRPC_ADDRESS,
    },
  };
}
