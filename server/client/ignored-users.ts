import { type IgnoredUsersPort, ignoredUsersOf } from "../rooms/ignored-users.ts";
import type { AccountDataService } from "./account-data.ts";

/** The rooms area's view of `m.ignored_user_list`, from the user's global account data. */
export function ignoredUsersPort(accountData: AccountDataService): IgnoredUsersPort {
  return async (userId) => ignoredUsersOf(await accountData.get(userId, null, "m.ignored_user_list"));
}
