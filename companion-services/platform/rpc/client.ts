import * as grpc from "@grpc/grpc-js";
import { fromServiceError, isRetriable } from "./errors.ts";
import { recordClientCall } from "./rpc.metrics.ts";

export type CallOptions = {
  deadlineMs: number;
  /** Only for idempotent methods: retried on UNAVAILABLE / DEADLINE_EXCEEDED with backoff. */
  retries: number;
};

type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, res?: unknown) => void,
) => grpc.ClientUnaryCall;

/**
 * Calls a unary method with a deadline; idempotent calls are retried a bounded number of times.
 * Failures come back as MatrixErrors: the callee's own, or RpcUnavailableError (503).
 */
export async function callUnary<Res>(
  client: grpc.Client,
  method: string,
  request: unknown,
  options: CallOptions,
): Promise<Res> {
  // grpc-js adds a client's methods at run time from the .proto, so its type names none of them.
  const fn = (client as unknown as Record<string, UnaryMethod>)[method];
  const startedAt = performance.now();
  let attempt = 0;
  for (;;) {
    try {
      const res = await new Promise<Res>((resolve, reject) => {
        fn.call(
          client,
          request,
          new grpc.Metadata(),
          { deadline: Date.now() + options.deadlineMs },
          (err: grpc.ServiceError | null, res?: unknown) => {
            if (err) reject(err);
            else resolve(res as Res);
          },
        );
      });
      recordClientCall(method, grpc.status.OK, startedAt);
      return res;
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (attempt < options.retries && isRetriable(e)) {
        attempt++;
        await new Promise((r) => setTimeout(r, 50 * 2 ** (attempt - 1)));
        continue;
      }
      recordClientCall(method, e.code ?? grpc.status.UNKNOWN, startedAt);
      throw fromServiceError(e, method);
    }
  }
}
