import { MatrixError } from "../../platform/errors.ts";

/**
 * An error as @tus/server expects one thrown from a DataStore or hook (`status_code`, `body`),
 * with a Matrix error as its body: the web bridge passes such bodies through unchanged.
 */
export type TusError = { status_code: number; body: string };

export function tusError(status: number, errcode: string, message: string): TusError {
  return { status_code: status, body: JSON.stringify({ errcode, error: message }) };
}

export function tusErrorOf(err: MatrixError): TusError {
  return { status_code: err.status, body: JSON.stringify(err.toJSON()) };
}

/** Thrown tus errors are plain objects; anything else is ours or a bug. */
export function isTusError(err: unknown): err is TusError {
  return (
    typeof err === "object" &&
    err !== null &&
    !(err instanceof MatrixError) &&
    typeof (err as { status_code?: unknown }).status_code === "number" &&
    typeof (err as { body?: unknown }).body === "string"
  );
}
