/**
 * Cross-replica fan-out: how a write committed on one homeserver process reaches the sockets and
 * long-polls of the others. Chosen once at wiring time: `LocalFanout` for a single process (the
 * in-process Notifier already does everything), `RedisFanout` when REDIS_URL is set.
 *
 * An adapter forwards this process's committed writes (`Notifier.onLocalWrite`) and its local safe
 * stream position (`StreamPositions.currentLocal`) to the other replicas, and applies theirs:
 * `Notifier.notifyRemote` for writes, `StreamPositions.setRemoteFloor` with the minimum of the live
 * replicas' safe positions, so no reader anywhere skips a position still in flight on a replica.
 */
export interface Fanout {
  /** This process's id among the replicas. */
  readonly replicaId: string;
  /** Connects and, with other replicas, waits until their safe positions are known. */
  start(): Promise<void>;
  /** Tells the others this replica is gone (its floor no longer holds them back) and disconnects. */
  close(): Promise<void>;
  /** Ids of the other replicas currently considered alive. */
  peers(): string[];
}
