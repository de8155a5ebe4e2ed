import { invalidParam } from "../companion-services/platform/errors.ts";

/**
 * A sync token: the persisted stream position and the typing serial. Typing is ephemeral, so its
 * serial starts from the clock at process start and stays monotonic across restarts.
 */
export type SyncToken = { stream: number; typing: number };

export function formatSyncToken(t: SyncToken): string {
  return `s${t.stream}_${t.typing}`;
}

export function parseSyncToken(s: string): SyncToken {
  const m = /^s(\d+)_(\d+)$/.exec(s);
  if (!m) throw invalidParam(`invalid sync token: ${s}`);
  return { stream: Number(m[1]), typing: Number(m[2]) };
}

/**
 * The ephemeral serial (typing, and anything else not persisted): starts at the clock so tokens
 * from before a restart stay below new values.
 */
export class EphemeralClock {
  private serial = Date.now();
  current(): number {
    return this.serial;
  }
  next(): number {
    this.serial = Math.max(this.serial + 1, Date.now());
    return this.serial;
  }
}
