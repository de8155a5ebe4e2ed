/**
 * Where bench/soak.ts's live-heap growth went: two heap snapshots of the server (after the
 * warm-up, at the end) and, in each, the memory reachable from each of the server's bounded
 * caches. Half an hour is too short for them to fill (the transaction-id cache holds 50,000
 * sends, ~3.5 h of this load), so they grow steadily without leaking; what grew outside them is
 * what the verdict judges.
 */
import { readFileSync } from "node:fs";

/** The bounded in-process caches (class.field as the heap snapshot names them) and their caps. */
export const BOUNDED = [
  { owner: "TxnIdCache.ids", cap: "50,000 transactions (server/rooms/caches/txn-ids.ts)" },
  { owner: "RoomTimelineCache.rooms", cap: "24 events × 5,000 rooms (server/rooms/caches/timelines.ts)" },
  { owner: "SnapshotCache.snapshots", cap: "20,000 rooms' state (server/rooms/caches/snapshots.ts)" },
  { owner: "UserRoomsCache.userRooms", cap: "100,000 users (server/rooms/caches/user-rooms.ts)" },
  {
    owner: "MemoryEventBus.logs",
    cap: "1,000 consumed records × 4 partitions per topic (companion-services/platform/event-bus/memory.ts)",
  },
] as const;

export type HeapBreakdown = { total: number; owners: Record<string, number> };

type Snapshot = {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
};

/** What a cache's data is made of; code, closures, shapes and prototypes are shared, not counted. */
const DATA = new Set([
  "object",
  "array",
  "string",
  "concatenated string",
  "sliced string",
  "number",
  "hidden",
]);

/** Total self size of a snapshot's V8 heap (native memory excluded) and the self size reachable from each owner's field. */
export function breakdown(file: string): HeapBreakdown {
  const snap = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const { meta } = snap.snapshot;
  const N = meta.node_fields.length;
  const E = meta.edge_fields.length;
  const [iType, iName, iEdges, iSize] = ["type", "name", "edge_count", "self_size"].map((k) =>
    meta.node_fields.indexOf(k),
  ) as [number, number, number, number];
  const [eType, eName, eTo] = ["type", "name_or_index", "to_node"].map((k) =>
    meta.edge_fields.indexOf(k),
  ) as [number, number, number];
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snap;
  const count = nodes.length / N;
  const first = new Uint32Array(count + 1);
  let total = 0;
  for (let i = 0, e = 0; i < count; i++) {
    first[i] = e;
    e += nodes[i * N + iEdges]! * E;
    first[i + 1] = e;
    // Native nodes are memory outside the V8 heap (ArrayBuffer contents: PGlite's WebAssembly
    // memory among them), which process.memoryUsage() reports as external, not as the heap.
    if (nodeTypes[nodes[i * N + iType]!] !== "native") total += nodes[i * N + iSize]!;
  }
  const seen = new Uint8Array(count);
  const owners: Record<string, number> = {};
  for (const { owner } of BOUNDED) {
    const [cls, field] = owner.split(".");
    let size = 0;
    const stack: number[] = [];
    for (let i = 0; i < count; i++) {
      if (nodeTypes[nodes[i * N + iType]!] !== "object" || strings[nodes[i * N + iName]!] !== cls) continue;
      for (let e = first[i]!; e < first[i + 1]!; e += E)
        if (!field || strings[edges[e + eName]!] === field) stack.push(edges[e + eTo]! / N);
    }
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (seen[n]) continue;
      const type = nodeTypes[nodes[n * N + iType]!]!;
      if (!DATA.has(type)) continue;
      if (type === "hidden" && !strings[nodes[n * N + iName]!]!.includes("Array")) continue;
      seen[n] = 1;
      size += nodes[n * N + iSize]!;
      for (let e = first[n]!; e < first[n + 1]!; e += E) {
        const et = edgeTypes[edges[e + eType]!];
        if (et === "weak" || et === "shortcut") continue;
        if (et === "property" || et === "internal") {
          const name = strings[edges[e + eName]!];
          if (name === "__proto__" || name === "map" || name === "constructor") continue;
        }
        stack.push(edges[e + eTo]! / N);
      }
    }
    owners[owner] = size;
  }
  return { total, owners };
}
