import * as grpc from "@grpc/grpc-js";
import type { ZodType } from "zod";
import { MatrixError } from "../errors.ts";
import { grpcListenFailure } from "../http/listen-error.ts";
import type { Logger } from "../logger.ts";
import { toServiceError } from "./errors.ts";
import { recordServerCall } from "./rpc.metrics.ts";

/**
 * A unary handler that validates its request with zod first: a missing or malformed field is
 * INVALID_ARGUMENT (M_INVALID_PARAM) and the implementation never sees it. Every thrown error is
 * mapped to a status; nothing a caller sends can crash the server.
 */
export function unary<Req, Res>(
  logger: Logger,
  method: string,
  schema: ZodType<Req>,
  fn: (req: Req, call: grpc.ServerUnaryCall<unknown, Res>) => Promise<Res>,
): grpc.handleUnaryCall<unknown, Res> {
  return (call, callback) => {
    const startedAt = performance.now();
    const fail = (err: unknown) => {
      const e = toServiceError(err);
      recordServerCall(method, e.code ?? grpc.status.UNKNOWN, startedAt);
      callback(e);
    };
    const parsed = schema.safeParse(call.request);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
      fail(new MatrixError(400, "M_INVALID_PARAM", `${where}${issue?.message ?? "invalid"}`));
      return;
    }
    fn(parsed.data, call).then(
      (res) => {
        recordServerCall(method, grpc.status.OK, startedAt);
        callback(null, res);
      },
      (err: unknown) => {
        if (!(err instanceof MatrixError)) logger.error({ err, method }, "rpc handler failed");
        fail(err);
      },
    );
  };
}

/** Binds a gRPC server; resolves with the port (0 picks a free one). */
export function listen(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) reject(grpcListenFailure(err, address));
      else resolve(port);
    });
  });
}

/** Graceful shutdown with a bound: in-flight calls finish, then the rest are cut. */
export function shutdown(server: grpc.Server, timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, timeoutMs);
    server.tryShutdown(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
