import { invalidParam, MatrixError } from "../../platform/errors.ts";
import type { Request } from "../../platform/http/router.ts";

export function user(req: Request): { userId: string; deviceId: string } {
  if (!req.auth) throw new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
  return { userId: req.auth.userId, deviceId: req.auth.deviceId };
}

/** A cursor from an earlier page (a `seq`); absent means the newest. */
export function cursor(req: Request, name: string): number | null {
  const raw = req.query.get(name);
  if (raw === null || raw === "") return null;
  if (!/^\d{1,15}$/.test(raw)) throw invalidParam(`${name} is not a token from an earlier page`);
  return Number(raw);
}

/** `limit`, clamped to [1, max]: a number out of range is not an error, junk is. */
export function limit(req: Request, dflt: number, max: number): number {
  const raw = req.query.get("limit");
  if (raw === null || raw === "") return dflt;
  if (!/^\d{1,9}$/.test(raw)) throw invalidParam("limit must be a non-negative integer");
  return Math.min(Math.max(Number(raw), 1), max);
}

export function flag(req: Request, name: string): boolean {
  const raw = req.query.get(name);
  if (raw === null || raw === "" || raw === "false" || raw === "0") return false;
  if (raw === "true" || raw === "1") return true;
  throw invalidParam(`${name} must be true or false`);
}

/** Fetching one row more than asked tells whether there is a next page. */
export function paged<T extends { seq: number }>(rows: T[], n: number): { items: T[]; next: string | null } {
  const items = rows.slice(0, n);
  const last = items.at(-1);
  return { items, next: rows.length > n && last ? String(last.seq) : null };
}
