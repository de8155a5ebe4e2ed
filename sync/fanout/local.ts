import { randomUUID } from "node:crypto";
import type { Fanout } from "../fanout.ts";

/** One process: the Notifier wakes local readers directly; there is nobody else to tell. */
export class LocalFanout implements Fanout {
  readonly replicaId = randomUUID();
  async start(): Promise<void> {}
  async close(): Promise<void> {}
  peers(): string[] {
    return [];
  }
}
