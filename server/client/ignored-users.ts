import { ChangeGuardedCache } from "../../sync/changes.ts";
import type { NovaContext } from "../context.ts";
import { type IgnoredUsersPort, ignoredUsersOf } from "../rooms/ignored-users.ts";
import type { AccountDataService } from "./account-data.ts";

/**
 * The rooms area's view of `m.ignored_user_list`, from the user's global account data. Every sync
 * asks, so the answer is kept until the user's account data changes (in this process or, through
 * the change index, another replica), as push rules are.
 */
export function ignoredUsersPort(
  accountData: AccountDataService,
  ctx: Pick<NovaContext, "notifier" | "streams">,
): IgnoredUsersPort {
  const cache = new ChangeGuardedCache<ReadonlySet<string>>(
    ctx.notifier.changes,
    () => ctx.streams.current(),
    "account_data",
  );
  return (userId) =>
    cache.get(userId, async () => ignoredUsersOf(await accountData.get(userId, null, "m.ignored_user_list")));
}
