import { canonicalJson, parseFilter } from "../filter.ts";
import { FiltersRepository, parseFilterId } from "./filters.repository.ts";
import type { FiltersDb } from "./tables.ts";

/** Sync filters clients store and then name by id on /sync and over the sync socket. */
export class Filters {
  private readonly repo: FiltersRepository;

  constructor(db: FiltersDb) {
    this.repo = new FiltersRepository(db);
  }

  /** Validates and stores a filter; identical filters of one user share one id. */
  async create(userId: string, raw: unknown): Promise<string> {
    const filter = parseFilter(raw);
    return String(await this.repo.create(userId, filter, canonicalJson(filter)));
  }

  /** The filter as uploaded, or undefined when the id names none of the user's (or none at all). */
  async stored(userId: string, filterId: string): Promise<unknown | undefined> {
    const id = parseFilterId(filterId);
    return id === null ? undefined : this.repo.get(userId, id);
  }
}
