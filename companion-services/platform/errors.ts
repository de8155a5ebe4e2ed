import type { ZodError } from "zod";

/** A Matrix error: errcode and HTTP status travel together and are mapped to the wire in one place. */
export class MatrixError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "MatrixError";
  }

  toJSON(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const badJson = (msg: string) => new MatrixError(400, "M_BAD_JSON", msg);
export const notJson = (msg = "Content not JSON.") => new MatrixError(400, "M_NOT_JSON", msg);
export const invalidParam = (msg: string) => new MatrixError(400, "M_INVALID_PARAM", msg);
export const missingParam = (msg: string) => new MatrixError(400, "M_MISSING_PARAM", msg);
export const notFound = (msg = "Not found") => new MatrixError(404, "M_NOT_FOUND", msg);
export const forbidden = (msg: string) => new MatrixError(403, "M_FORBIDDEN", msg);
export const unrecognized = (msg = "Unrecognized request") => new MatrixError(404, "M_UNRECOGNIZED", msg);
export const methodNotAllowed = () => new MatrixError(405, "M_UNRECOGNIZED", "Method not allowed");
export const tooLarge = (msg = "Request body too large") => new MatrixError(413, "M_TOO_LARGE", msg);
export const missingToken = () => new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
export const unknownToken = (softLogout = false) =>
  new MatrixError(401, "M_UNKNOWN_TOKEN", "Unrecognised access token", { soft_logout: softLogout });
export const limitExceeded = (retryAfterMs: number) =>
  new MatrixError(429, "M_LIMIT_EXCEEDED", "Too many requests", { retry_after_ms: retryAfterMs });

/** Turns a zod failure into M_BAD_JSON with the first offending path, never a 500. */
export function fromZod(err: ZodError, errcode = "M_BAD_JSON"): MatrixError {
  const first = err.issues[0];
  const where = first && first.path.length > 0 ? `${first.path.join(".")}: ` : "";
  return new MatrixError(400, errcode, `${where}${first?.message ?? "invalid input"}`);
}
