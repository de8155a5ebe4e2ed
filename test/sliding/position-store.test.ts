import { describe, expect, it } from "vitest";
import { createLogger } from "../../companion-services/platform/logger.ts";
import { emptyState } from "../../server/sliding/connection-state.ts";
import type { ConnectionKey, ConnectionsRepository } from "../../server/sliding/connections.repository.ts";
import { PositionStore } from "../../server/sliding/position-store.ts";

/** A repository that records what reached the database (positions by connection and seq). */
function fakeRepo() {
  const rows = new Map<string, { generation: string; seq: number; response: string }>();
  const repo = {
    rows,
    reads: [] as string[],
    async save(k: ConnectionKey, p: { generation: string; seq: number; response: string }) {
      rows.set(`${k.connId}/${p.seq}`, p);
    },
    async positions(k: ConnectionKey, generation: string, seq: number) {
      repo.reads.push(k.connId);
      const r = rows.get(`${k.connId}/${seq}`);
      const at =
        r && r.generation === generation ? { ...r, state: emptyState(0, 0), requestHash: "h" } : null;
      return { at, answered: null };
    },
    async delete() {},
  };
  return repo;
}

describe("sliding sync positions in memory", () => {
  const logger = createLogger("silent");
  const key = (connId: string): ConnectionKey => ({ userId: "@a:x", deviceId: "D", connId });
  const position = (seq: number, size: number) => ({
    generation: "00000000aa",
    seq,
    state: emptyState(0, 0),
    requestHash: "h",
    response: "x".repeat(size),
  });

  it("writes behind, answers from memory, and keeps the answered response for retries only", async () => {
    const repo = fakeRepo();
    const store = new PositionStore(repo as unknown as ConnectionsRepository, () => false, logger);
    await store.save(key("c"), position(1, 10), { restart: true, usedSeq: null, now: 0 });
    await store.save(key("c"), position(2, 10), { restart: false, usedSeq: 1, now: 0 });
    const { at, answered } = await store.positions(key("c"), "00000000aa", 1);
    expect(at?.response).toBeNull();
    expect(answered?.seq).toBe(2);
    expect(answered?.response).toBe("x".repeat(10));
    await store.flush();
    expect([...repo.rows.keys()].sort()).toEqual(["c/1", "c/2"]);
    // Another generation (a restart of the connection elsewhere) is unknown.
    expect((await store.positions(key("c"), "00000000bb", 2)).at).toBeNull();
  });

  it("lets the oldest connections go past its byte budget, and reads them from the database", async () => {
    const repo = fakeRepo();
    const store = new PositionStore(repo as unknown as ConnectionsRepository, () => false, logger);
    const big = 20 * 1024 * 1024;
    for (const c of ["a", "b", "c", "d"]) {
      await store.save(key(c), position(1, big), { restart: true, usedSeq: null, now: 0 });
      await store.flush();
    }
    // "a" left memory (4 × 20 MiB > 64 MiB): its position comes from the database; "d" is in memory.
    expect((await store.positions(key("a"), "00000000aa", 1)).at?.seq).toBe(1);
    expect((await store.positions(key("d"), "00000000aa", 1)).at?.seq).toBe(1);
    expect(repo.reads).toEqual(["a"]);
  });

  it("goes to the database for every read and write with replicas", async () => {
    const repo = fakeRepo();
    const store = new PositionStore(repo as unknown as ConnectionsRepository, () => true, logger);
    await store.save(key("r"), position(1, 5), { restart: true, usedSeq: null, now: 0 });
    expect(repo.rows.has("r/1")).toBe(true);
  });
});
