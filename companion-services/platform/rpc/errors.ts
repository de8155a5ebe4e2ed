import * as grpc from "@grpc/grpc-js";
import { MatrixError } from "../errors.ts";

const ERRCODE = "matrix-errcode";
const STATUS = "matrix-status";
const EXTRA = "matrix-extra";

/** The gRPC code closest to an HTTP status (for callers that are not Nova clients). */
function codeForStatus(status: number): grpc.status {
  if (status === 400) return grpc.status.INVALID_ARGUMENT;
  if (status === 401) return grpc.status.UNAUTHENTICATED;
  if (status === 403) return grpc.status.PERMISSION_DENIED;
  if (status === 404) return grpc.status.NOT_FOUND;
  if (status === 409) return grpc.status.ALREADY_EXISTS;
  if (status === 413) return grpc.status.OUT_OF_RANGE;
  if (status === 429) return grpc.status.RESOURCE_EXHAUSTED;
  if (status === 503) return grpc.status.UNAVAILABLE;
  return grpc.status.INTERNAL;
}

/** Server side: any error → a gRPC status; a MatrixError keeps its errcode, status and extras. */
export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (err instanceof MatrixError) {
    metadata.set(ERRCODE, err.errcode);
    metadata.set(STATUS, String(err.status));
    if (Object.keys(err.extra).length > 0) metadata.set(EXTRA, JSON.stringify(err.extra));
    return { code: codeForStatus(err.status), details: err.message, metadata };
  }
  return { code: grpc.status.INTERNAL, details: "internal error", metadata };
}

/** A call that failed for transport reasons (unreachable, deadline): not the callee's answer. */
export class RpcUnavailableError extends MatrixError {
  constructor(
    readonly code: grpc.status,
    readonly method: string,
    detail: string,
  ) {
    super(503, "M_UNKNOWN", `${method}: service unavailable (${grpc.status[code]}: ${detail})`);
    this.name = "RpcUnavailableError";
  }
}

/** Client side: a gRPC error → the MatrixError the callee threw, or a typed transport error. */
export function fromServiceError(err: grpc.ServiceError, method: string): MatrixError {
  const errcode = err.metadata?.get(ERRCODE)[0];
  if (typeof errcode === "string") {
    const status = Number(err.metadata.get(STATUS)[0] ?? 500);
    const extraRaw = err.metadata.get(EXTRA)[0];
    let extra: Record<string, unknown> = {};
    if (typeof extraRaw === "string") {
      try {
        extra = JSON.parse(extraRaw) as Record<string, unknown>;
      } catch {
        extra = {};
      }
    }
    return new MatrixError(status, errcode, err.details, extra);
  }
  if (err.code === grpc.status.INVALID_ARGUMENT) return new MatrixError(400, "M_INVALID_PARAM", err.details);
  if (
    err.code === grpc.status.UNAVAILABLE ||
    err.code === grpc.status.DEADLINE_EXCEEDED ||
    err.code === grpc.status.CANCELLED
  )
    return new RpcUnavailableError(err.code, method, err.details);
  return new MatrixError(500, "M_UNKNOWN", `${method} failed: ${err.details}`);
}

export function isRetriable(err: grpc.ServiceError): boolean {
  return err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED;
}
