import type { IdentityClient } from "../companion-services/identity/client.ts";
import type { Databases } from "../companion-services/platform/database.ts";
import type { Router } from "../companion-services/platform/http/router.ts";
import type { Logger } from "../companion-services/platform/logger.ts";
import type { Notifier } from "../sync/notifier.ts";
import type { SyncStreamProvider } from "../sync/provider.ts";
import type { StreamPositions } from "../sync/stream-positions.ts";
import type { EphemeralClock } from "../sync/token.ts";
import type { NovaConfig } from "./config.ts";
import type { Hooks } from "./hooks.ts";

/**
 * What every homeserver area is given at wiring time. Areas register their HTTP routes on `router`
 * and their /sync parts on `syncProviders`; they reach companion services only through clients.
 */
export type NovaContext = {
  config: NovaConfig;
  logger: Logger;
  databases: Databases;
  identity: IdentityClient;
  streams: StreamPositions;
  notifier: Notifier;
  /** Serial of ephemeral changes (typing): the second part of a sync token. */
  ephemeral: EphemeralClock;
  hooks: Hooks;
  router: Router;
  syncProviders: SyncStreamProvider[];
  /** Run on shutdown, in reverse order of registration. */
  onClose: (fn: () => Promise<void> | void) => void;
  /**
   * Tells this process's messaging outbox processor that rows were committed. Room sends call it
   * instead of a NOTIFY in their statement: PostgreSQL serialises the commits of notifying
   * transactions on one global lock, which every send would then queue on. Other processes
   * writing the same outbox are found by the processor's poll.
   */
  outboxWritten: () => void;
};
