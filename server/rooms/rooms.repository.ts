import { ConversationsRepository } from "./storage/conversations.repository.ts";
import { EventWritesRepository } from "./storage/event-writes.repository.ts";
import { EventsRepository } from "./storage/events.repository.ts";
import { RelationsRepository } from "./storage/relations.repository.ts";
import { StateRepository } from "./storage/state.repository.ts";
import type { RoomsDb } from "./tables.ts";

export type {
  ConversationRow,
  EventFilter,
  EventRow,
  EventWrite,
  HeadSwap,
  RedactionWrite,
  TxnGuard,
  UserMembership,
} from "./storage/rows.ts";

/** The rooms area's storage (messaging schema), one repository per aggregate. */
export class RoomsRepository {
  readonly conversations: ConversationsRepository;
  readonly events: EventsRepository;
  readonly writes: EventWritesRepository;
  readonly state: StateRepository;
  readonly relations: RelationsRepository;

  constructor(readonly db: RoomsDb) {
    this.conversations = new ConversationsRepository(db);
    this.events = new EventsRepository(db);
    this.writes = new EventWritesRepository(db);
    this.state = new StateRepository(db);
    this.relations = new RelationsRepository(db);
  }
}
