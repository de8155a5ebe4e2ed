import type { EventRow } from "./storage/rows.ts";

/**
 * Whom a user ignores (`m.ignored_user_list`, kept by account data in server/client): the rooms
 * area asks through this port so it never reads the client area's storage.
 */
export type IgnoredUsersPort = (userId: string) => Promise<ReadonlySet<string>>;

export const NO_ONE: ReadonlySet<string> = new Set();

/** The user ids of an `m.ignored_user_list` content (its `ignored_users` keys). */
export function ignoredUsersOf(content: unknown): ReadonlySet<string> {
  const users = (content as { ignored_users?: unknown } | null | undefined)?.ignored_users;
  if (!users || typeof users !== "object" || Array.isArray(users)) return NO_ONE;
  return new Set(Object.keys(users));
}

/**
 * Whether an event is withheld from someone who ignores its sender: messages and other timeline
 * events are; state events are not, since the room's state is the room's, not the sender's (as
 * Synapse does).
 */
export function hiddenByIgnore(
  row: Pick<EventRow, "sender" | "state_key">,
  ignored: ReadonlySet<string>,
): boolean {
  return ignored.size > 0 && row.state_key === null && ignored.has(row.sender);
}
