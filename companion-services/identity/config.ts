import { z } from "zod";

/**
 * Identity's settings: token lifetime and login limits (the service), where its gRPC server
 * listens and where the others reach it, and how long a remote caller trusts a verified token.
 * One part of the process's configuration (server/config.ts parses the environment once).
 */
export const identityEnvSchema = z.object({
  NOVA_ACCESS_TOKEN_TTL_MS: z.coerce.number().int().nonnegative().default(0),
  NOVA_LOGIN_FAILURES_PER_MINUTE: z.coerce.number().int().positive().default(5),
  /** Where identity's gRPC server listens. */
  IDENTITY_GRPC_LISTEN: z.string().default("127.0.0.1:50051"),
  /** Where the other services reach identity's gRPC server. */
  IDENTITY_GRPC_ADDRESS: z.string().default("127.0.0.1:50051"),
  /** How long the homeserver trusts a verified access token before asking identity again, ms. */
  NOVA_TOKEN_CACHE_MS: z.coerce.number().int().nonnegative().default(10_000),
});

export type IdentityConfig = {
  accessTokenTtlMs: number;
  loginFailuresPerMinute: number;
  identityGrpcListen: string;
  identityGrpcAddress: string;
  tokenCacheMs: number;
};

export function identityConfig(e: z.infer<typeof identityEnvSchema>): IdentityConfig {
  return {
    accessTokenTtlMs: e.NOVA_ACCESS_TOKEN_TTL_MS,
    loginFailuresPerMinute: e.NOVA_LOGIN_FAILURES_PER_MINUTE,
    identityGrpcListen: e.IDENTITY_GRPC_LISTEN,
    identityGrpcAddress: e.IDENTITY_GRPC_ADDRESS,
    tokenCacheMs: e.NOVA_TOKEN_CACHE_MS,
  };
}
