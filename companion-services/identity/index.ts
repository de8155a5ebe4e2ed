import type { ServiceDatabase } from "../platform/database.ts";
import { type IdentityOptions, IdentityService } from "./service.ts";
import type { IdentityTables } from "./tables.ts";

export type { IdentityOptions } from "./service.ts";

/** Builds identity on its own database; the wiring never touches its tables. */
export function createIdentity(
  database: ServiceDatabase<unknown>,
  options: IdentityOptions,
): IdentityService {
  const own = database as ServiceDatabase<IdentityTables>;
  return new IdentityService(own.db, { schema: database.schema, ...options });
}
