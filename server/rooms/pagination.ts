import { invalidParam } from "../../companion-services/platform/errors.ts";

/**
 * Room pagination tokens name a gap in the room's stream: `t<N>` sits just after the event at
 * stream position N. Sync tokens (`s<N>_…`) name the same gap, so a sync's `next_batch` works as
 * `from`, and `prev_batch` tokens are `t` tokens.
 */
export function formatRoomToken(position: number): string {
  return `t${Math.max(0, position)}`;
}

export function parseRoomToken(token: string): number {
  const m = /^t(\d{1,15})$/.exec(token) ?? /^s(\d{1,15})(?:_\d+)*$/.exec(token);
  if (!m) throw invalidParam(`Invalid pagination token: ${token}`);
  return Number(m[1]);
}
