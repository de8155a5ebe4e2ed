/**
 * Issue #13's search benchmark: query latency over a read model of N public posts (default
 * 100,000) through the search service (SearchService.searchPosts: term check, cursor, kysely,
 * the result mapping) against the same SQL sent raw on a pg connection of its own (the ceiling),
 * in the same run, on PostgreSQL (DATABASE_URL; PGlite otherwise, said in the report).
 *
 * Posts are synthetic: 12–40 words each drawn from a 20,000-word vocabulary with a Zipf-like
 * skew, bulk-inserted (the generated tsvector is computed by PostgreSQL as the consumers' inserts
 * would have it). Queries: one or two words of mixed frequency, sequential (one in flight).
 * Also timed: events through search's consumer (post.published batches), the ingest rate.
 *
 * Usage: `tsx bench/search.ts [--posts 100000] [--queries 2000] [--ingest 5000]`.
 * Writes the `search` section of bench/REPORT.md.
 */
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { sql } from "kysely";
import pg from "pg";
import type { EventConsumer } from "../companion-services/platform/consumer.ts";
import { Databases } from "../companion-services/platform/database.ts";
import { toRecord } from "../companion-services/platform/envelope.ts";
import { MemoryEventBus } from "../companion-services/platform/event-bus/memory.ts";
import { createLogger } from "../companion-services/platform/logger.ts";
import { createSearchConsumers } from "../companion-services/search/consumers.ts";
import { SearchService } from "../companion-services/search/service.ts";
import type { SearchTables } from "../companion-services/search/tables.ts";
import { freshDatabase } from "../test/helpers/database.ts";
import { percentile, writeReportSection } from "./report.ts";

const { values } = parseArgs({
  options: {
    posts: { type: "string", default: "100000" },
    queries: { type: "string", default: "2000" },
    ingest: { type: "string", default: "5000" },
  },
});
const POSTS = Number(values.posts);
const QUERIES = Number(values.queries);
const INGEST = Number(values.ingest);
const VOCABULARY = 20_000;

/** Deterministic pseudo-random numbers, so runs compare. */
let seed = 42;
const rand = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const syllables = ["ka", "lo", "mi", "ra", "te", "su", "no", "vi", "be", "da", "ze", "po", "gu", "fi", "ye"];
const words = Array.from({ length: VOCABULARY }, (_, i) => {
  let w = "";
  let n = i + 1;
  while (n > 0) {
    w += syllables[n % syllables.length];
    n = Math.floor(n / syllables.length);
  }
  return `${w}x`;
});
/** Rank by a Zipf-like law: word i about 1/(i+1) as frequent as the first. */
const zipfWord = () => words[Math.min(VOCABULARY - 1, Math.floor(VOCABULARY ** rand()) - 1)]!;
const text = () => Array.from({ length: 12 + Math.floor(rand() * 29) }, zipfWord).join(" ");

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1]! };
}

async function main(): Promise<void> {
  const fresh = await freshDatabase();
  const backend = fresh ? "PostgreSQL" : "PGlite (no DATABASE_URL)";
  const databases = await Databases.open(["search"], {
    dataDir: "memory://",
    urls: { search: fresh?.url },
    poolSize: 4,
  });
  const db = databases.get<SearchTables>("search").db;
  const raw = fresh ? new pg.Client({ connectionString: fresh.url, options: "-c search_path=search" }) : null;
  try {
    console.log(`loading ${POSTS} posts (${backend})`);
    const t0 = performance.now();
    const now = Date.now();
    for (let i = 0; i < POSTS; i += 1_000) {
      const rows = Array.from({ length: Math.min(1_000, POSTS - i) }, (_, j) => ({
        post_id: randomUUID(),
        author_id: `@u${(i + j) % 5_000}:bench`,
        title: null,
        content: text(),
        visibility: "public",
        language: "en",
        created_at: now - (POSTS - i - j) * 1_000,
        updated_at: now,
      }));
      await db.insertInto("search_posts").values(rows).execute();
      if ((i + 1_000) % 20_000 === 0) console.log(`  ${i + 1_000}/${POSTS}`);
    }
    await sql`ANALYZE search_posts`.execute(db);
    const loadSeconds = (performance.now() - t0) / 1000;
    console.log(`  loaded in ${loadSeconds.toFixed(1)} s`);

    // Query terms: a word from the head (frequent), the middle or the tail, or two of them.
    const pick = (from: number, to: number) => words[from + Math.floor(rand() * (to - from))]!;
    const terms = Array.from({ length: QUERIES }, (_, i) => {
      const kind = i % 4;
      if (kind === 0) return pick(20, 200);
      if (kind === 1) return pick(200, 5_000);
      if (kind === 2) return pick(5_000, VOCABULARY);
      return `${pick(20, 2_000)} ${pick(20, 2_000)}`;
    });
    const service = new SearchService(db);
    // Warm-up: the GIN index and the table into the buffer cache for both paths.
    for (const t of terms.slice(0, 200)) await service.searchPosts(t, { limit: 20 });

    console.log(`${QUERIES} queries through SearchService.searchPosts (limit 20)`);
    const viaService: number[] = [];
    let hits = 0;
    for (const t of terms) {
      const s = performance.now();
      hits += (await service.searchPosts(t, { limit: 20 })).items.length;
      viaService.push(performance.now() - s);
    }
    const svc = stats(viaService);
    console.log(
      `  p50 ${svc.p50.toFixed(2)} ms, p99 ${svc.p99.toFixed(2)} ms (${(hits / QUERIES).toFixed(1)} hits/query)`,
    );

    let ceiling: ReturnType<typeof stats> | null = null;
    if (raw) {
      await raw.connect();
      const rawSql = `SELECT post_id, author_id, title, content, language, created_at,
          ts_rank(document, websearch_to_tsquery('english'::regconfig, $1)) AS rank
        FROM search_posts
        WHERE visibility = 'public' AND document @@ websearch_to_tsquery('english'::regconfig, $1)
        ORDER BY ts_rank(document, websearch_to_tsquery('english'::regconfig, $1)) DESC, created_at DESC, post_id
        OFFSET 0 LIMIT 20`;
      for (const t of terms.slice(0, 200)) await raw.query(rawSql, [t]);
      console.log(`${QUERIES} queries of the same SQL, raw on one pg connection`);
      const viaRaw: number[] = [];
      for (const t of terms) {
        const s = performance.now();
        await raw.query(rawSql, [t]);
        viaRaw.push(performance.now() - s);
      }
      ceiling = stats(viaRaw);
      console.log(`  p50 ${ceiling.p50.toFixed(2)} ms, p99 ${ceiling.p99.toFixed(2)} ms`);
    }

    console.log(`ingest: ${INGEST} post.published events through search's consumer`);
    const bus = new MemoryEventBus();
    const consumers: EventConsumer<SearchTables>[] = createSearchConsumers(
      db,
      bus,
      createLogger("silent"),
      99,
    );
    for (const c of consumers) await c.start();
    const ti = performance.now();
    const records = Array.from({ length: INGEST }, () => {
      const id = randomUUID();
      return toRecord({
        id: randomUUID(),
        aggregate_type: "post",
        aggregate_id: id,
        event_type: "post.published",
        payload: {
          post_id: id,
          author_id: "@ingest:bench",
          title: null,
          content: text(),
          visibility: "public",
          language: "en",
          images: [],
          videos: [],
          shared_post_id: null,
          created_at: now,
          updated_at: now,
        },
        metadata: {},
        created_at: now,
      });
    });
    for (let i = 0; i < records.length; i += 500) await bus.publish(records.slice(i, i + 500));
    const ingestRate = INGEST / ((performance.now() - ti) / 1000);
    console.log(`  ${ingestRate.toFixed(0)} events/s`);
    for (const c of consumers) await c.stop();
    await bus.close();

    const load = loadavg()
      .map((l) => l.toFixed(2))
      .join(" / ");
    const f = (n: number) => n.toFixed(2);
    writeReportSection(
      "search",
      `## Search (bench/search.ts, issue #13)

${POSTS.toLocaleString("en")} synthetic public posts in search's read model on ${backend} (12–40 words from a
20,000-word vocabulary, Zipf-like skew; tsvector generated, GIN), ${QUERIES} one- and two-word queries of
mixed frequency, one in flight, limit 20, ranked by ts_rank. Load average at the end: ${load}.

| path | p50 ms | p99 ms | max ms |
|---|---|---|---|
| SearchService.searchPosts (validation, cursor, kysely, mapping) | ${f(svc.p50)} | ${f(svc.p99)} | ${f(svc.max)} |
${ceiling ? `| the same SQL, raw on one pg connection (ceiling) | ${f(ceiling.p50)} | ${f(ceiling.p99)} | ${f(ceiling.max)} |` : "| raw SQL ceiling | n/a (PGlite) | | |"}

Loading ${POSTS.toLocaleString("en")} rows (bulk inserts of 1,000): ${loadSeconds.toFixed(1)} s. Through search's
consumer (post.published on the in-process bus, batches of 500, one transaction per batch):
${ingestRate.toFixed(0)} events/s. The service's pool has 4 connections; the raw client one.`,
    );
    console.log("wrote the search section of bench/REPORT.md");
  } finally {
    await raw?.end().catch(() => {});
    await databases.close();
    await fresh?.drop();
  }
}

await main();
