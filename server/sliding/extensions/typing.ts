import type { TypingService } from "../../client/typing.ts";
import type { ExtensionWindow } from "./types.ts";

type TypingEvent = { type: "m.typing"; content: { user_ids: string[] } };
export type TypingResult = { rooms: Record<string, TypingEvent> };

/**
 * typing (MSC3961), from memory: a room new to the connection gets its typers when there are
 * any; a room the connection has gets the set again when it changed in (since, to] of the typing
 * serial. A change after `to` waits for the next response, which wakes for it.
 */
export function typing(service: TypingService, rooms: readonly string[], w: ExtensionWindow): TypingResult {
  const out: Record<string, TypingEvent> = {};
  for (const id of rooms) {
    const since = w.roomSince.get(id) ?? null;
    const changedAt = service.changedAt(id);
    if (changedAt > w.to.typing) continue;
    const typers = service.typers(id);
    const send = since === null ? typers.length > 0 : changedAt > since.typing;
    if (send) out[id] = { type: "m.typing", content: { user_ids: typers } };
  }
  return { rooms: out };
}
