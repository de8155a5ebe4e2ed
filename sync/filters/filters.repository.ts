import type { FiltersDb } from "./tables.ts";

/** Sync filters uploaded by clients; identical filters of one user share one id. */
export class FiltersRepository {
  constructor(private readonly db: FiltersDb) {}

  async create(userId: string, filter: unknown, canonical: string): Promise<number> {
    const inserted = await this.db
      .insertInto("user_filters")
      .values({ user_id: userId, filter_json: JSON.stringify(filter), canonical, created_at: Date.now() })
      .onConflict((oc) => oc.doNothing())
      .returning("filter_id")
      .executeTakeFirst();
    if (inserted) return Number(inserted.filter_id);
    const existing = await this.db
      .selectFrom("user_filters")
      .select("filter_id")
      .where("user_id", "=", userId)
      .where("canonical", "=", canonical)
      .executeTakeFirstOrThrow();
    return Number(existing.filter_id);
  }

  async get(userId: string, filterId: number): Promise<unknown | undefined> {
    const row = await this.db
      .selectFrom("user_filters")
      .select("filter_json")
      .where("user_id", "=", userId)
      .where("filter_id", "=", filterId)
      .executeTakeFirst();
    return row?.filter_json;
  }
}

/** A stored filter's id as clients send it (digits); null when it cannot name one. */
export function parseFilterId(s: string): number | null {
  return /^[0-9]{1,15}$/.test(s) ? Number(s) : null;
}
