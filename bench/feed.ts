/**
 * Issue #13's feed benchmark: the feed service in this process (createFeed on the embedded
 * database, its routes behind the platform's HTTP server), its timelines on Redis (REDIS_URL; the
 * in-process store without it, said so in the report), graph and content as in-memory fakes
 * (test/feed/fakes.ts: zero-latency answers, so the numbers are the feed's own work plus Redis):
 *
 * - read: `GET /_nova/v1/feed?limit=20` at a fixed rate (default 500/s) for a reader following
 *   500 fanned-out authors (a full timeline of 800 posts), p50/p99, beside a raw ZREVRANGE of the
 *   same 20 entries at the same rate from this process to the same Redis;
 * - fan-out: one post by an author with 100,000 followers into every follower's timeline
 *   (checked: every timeline holds it), beside raw pipelined ZADDs of the same keys;
 * - fan-in read: the same read for a reader following 490 fanned-out and 10 fan-in authors
 *   (over the threshold, read at read time from content).
 *
 * The read ceilings run at the same instants as the reads (one of each per tick): a route doing
 * nothing on the same server (the HTTP part) and a raw ZREVRANGE (the Redis part).
 *
 * Usage: `tsx bench/feed.ts [--rate 500] [--seconds 8] [--followers 100000] [--smoke] [--no-report]`.
 * Writes the `feed` section of bench/REPORT.md.
 */

import { randomBytes, randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { Agent, request } from "undici";
import { DEFAULT_FEED_SETTINGS } from "../companion-services/feed/config.ts";
import { createFeed } from "../companion-services/feed/index.ts";
import { MemoryTimelineStore } from "../companion-services/feed/timeline-memory.ts";
import { RedisTimelineStore } from "../companion-services/feed/timeline-redis.ts";
import type { TimelineStore } from "../companion-services/feed/timeline-store.ts";
import { Databases } from "../companion-services/platform/database.ts";
import { MemoryEventBus } from "../companion-services/platform/event-bus/memory.ts";
import { Router } from "../companion-services/platform/http/router.ts";
import { HttpServer } from "../companion-services/platform/http/server.ts";
import { createLogger } from "../companion-services/platform/logger.ts";
import { FakeContent, FakeGraph } from "../test/feed/fakes.ts";
import { percentile, writeReportSection } from "./report.ts";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "500" },
    seconds: { type: "string", default: "8" },
    followers: { type: "string", default: "100000" },
    authors: { type: "string", default: "500" },
    smoke: { type: "boolean", default: false },
    "no-report": { type: "boolean", default: false },
  },
});
const smoke = values.smoke;
const RATE = smoke ? 100 : Number(values.rate);
const SECONDS = smoke ? 1 : Number(values.seconds);
const FOLLOWERS = smoke ? 2_000 : Number(values.followers);
const AUTHORS = smoke ? 20 : Number(values.authors);
const FAN_IN_AUTHORS = smoke ? 2 : 10;
const THRESHOLD = 10_000;
const REDIS_URL = process.env.REDIS_URL;
const logger = createLogger("warn", "bench-feed");
/** The event-loop delay monitor's timer: what it reports beyond this is lateness. */
const LOOP_RESOLUTION_MS = 2;

/**
 * At a fixed rate for `seconds`, whatever the answers take, one of each call per tick: the feed's
 * read and its ceilings run at the same instants, so a stall of the shared machine hits them
 * alike. Latencies in ms, sorted, per call.
 */
async function fixedRate(
  seconds: number,
  calls: (() => Promise<void>)[],
): Promise<{ sorted: number[][]; achieved: number; loop: string }> {
  const latencies: number[][] = calls.map(() => []);
  const delay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  delay.enable();
  const cpu0 = process.cpuUsage();
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < RATE * seconds; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (const [k, call] of calls.entries()) {
      pending.push(
        (async () => {
          const t = performance.now();
          await call();
          latencies[k]!.push(performance.now() - t);
        })(),
      );
    }
  }
  const sent = (performance.now() - start) / 1000;
  await Promise.all(pending);
  delay.disable();
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - start;
  // How long this process's event loop was late, and how much of one core it used: a stall with
  // little CPU used is the machine's (the process was not scheduled), not the feed's work.
  const late = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
  const loop = `event loop late by p99 ${late(delay.percentile(99)).toFixed(1)} ms, max ${late(delay.max).toFixed(0)} ms; ${(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(0)} % of one core`;
  return {
    sorted: latencies.map((l) => l.sort((x, y) => x - y)),
    achieved: (RATE * seconds) / sent,
    loop,
  };
}

const ms = (sorted: number[]) =>
  `${percentile(sorted, 50).toFixed(2)} / ${percentile(sorted, 99).toFixed(2)} ms`;

async function main(): Promise<void> {
  const redis = REDIS_URL ? new Redis(REDIS_URL, { maxRetriesPerRequest: 2 }) : null;
  const prefix = `nova:bench:feed:${randomBytes(4).toString("hex")}:`;
  const store: TimelineStore = redis ? new RedisTimelineStore(redis, prefix) : new MemoryTimelineStore();
  console.log(
    `feed bench: timelines on ${redis ? `Redis (${REDIS_URL})` : "the in-process store (no REDIS_URL)"}`,
  );
  const databases = await Databases.open(["feed"], { dataDir: "memory://", urls: {} });
  const graph = new FakeGraph();
  const content = new FakeContent();
  const bus = new MemoryEventBus();
  const settings = { ...DEFAULT_FEED_SETTINGS, fanoutThreshold: THRESHOLD };
  const feed = createFeed(databases.get("feed"), { graph, content, store }, bus, logger, { feed: settings });
  const router = new Router();
  feed.mount(router);
  // The ceiling of the HTTP part: a route that does nothing, on the same server, at the same rate.
  router.get("/_nova/v1/bench-noop", async () => ({ status: 200, body: { posts: [] } }), {
    auth: "required",
  });
  const server = new HttpServer({
    router,
    logger,
    maxRequestBody: 64 * 1024,
    authenticate: async (token) => ({
      userId: `@${token}:bench`,
      deviceId: "D",
      sessionId: token,
      isGuest: false,
    }),
  });
  const port = await server.listen("127.0.0.1", 0);
  const agent = new Agent({ connections: 32 });
  const read = (token: string) => async () => {
    const r = await request(`http://127.0.0.1:${port}/_nova/v1/feed?limit=20`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await r.body.json()) as { posts: unknown[] };
    if (r.statusCode !== 200 || body.posts.length !== 20) throw new Error(`feed answered ${r.statusCode}`);
  };
  const noop = async () => {
    const r = await request(`http://127.0.0.1:${port}/_nova/v1/bench-noop`, {
      dispatcher: agent,
      headers: { authorization: "Bearer noop" },
    });
    await r.body.json();
  };
  const rawRead = redis
    ? (user: string) => async () => {
        await redis.zrevrange(`${prefix}tl:${user}`, 0, 19, "WITHSCORES");
      }
    : null;
  try {
    // A reader following AUTHORS ordinary authors, two posts each (its timeline fills to the cap).
    const reader = "@reader:bench";
    const authors = Array.from({ length: AUTHORS }, (_, i) => `@author${i}:bench`);
    let t = 1_700_000_000_000;
    for (const a of authors) graph.follow(reader, a);
    for (let round = 0; round < 2; round++)
      for (const a of authors) {
        const p = content.add({ authorId: a, createdAt: t++ });
        await feed.writer.published({ postId: p.id, authorId: a, createdAt: p.createdAt });
      }
    console.log(`read: ${reader} follows ${AUTHORS} authors; ${RATE}/s for ${SECONDS} s`);
    await fixedRate(1, [read("reader")]); // warm-up: JIT, connections, caches
    const readRun = await fixedRate(SECONDS, [read("reader"), noop, ...(rawRead ? [rawRead(reader)] : [])]);
    const feedRead = { sorted: readRun.sorted[0]!, achieved: readRun.achieved };
    const readNoop = readRun.sorted[1]!;
    const ceilingRead = readRun.sorted[2] ?? null;
    console.log(`  p50 / p99 ${ms(feedRead.sorted)} (${readRun.loop})`);
    console.log(`  ceiling (a route doing nothing, same server, same instants) p50 / p99 ${ms(readNoop)}`);
    if (ceilingRead)
      console.log(`  ceiling (raw ZREVRANGE 0 19, same instants) p50 / p99 ${ms(ceilingRead)}`);

    // Fan-in: a reader following AUTHORS - FAN_IN_AUTHORS of the same authors and FAN_IN_AUTHORS
    // over the threshold, each with 100 posts in content and none in any timeline.
    const fanReader = "@fanreader:bench";
    for (const a of authors.slice(FAN_IN_AUTHORS)) {
      graph.follow(fanReader, a);
      await feed.writer.followed(fanReader, a);
    }
    for (let b = 0; b < FAN_IN_AUTHORS; b++) {
      const a = `@big${b}:bench`;
      graph.follow(fanReader, a);
      graph.reportedFollowers.set(a, THRESHOLD + 1);
      for (let i = 0; i < 100; i++) {
        const p = content.add({ authorId: a, createdAt: t++ });
        const r = await feed.writer.published({ postId: p.id, authorId: a, createdAt: p.createdAt });
        if (r.mode !== "fan-in") throw new Error("big author was fanned out");
      }
    }
    console.log(
      `fan-in read: ${AUTHORS - FAN_IN_AUTHORS} fanned-out + ${FAN_IN_AUTHORS} fan-in authors; ${RATE}/s`,
    );
    await fixedRate(1, [read("fanreader")]);
    const fanRun = await fixedRate(SECONDS, [read("fanreader"), noop]);
    const fanInRead = { sorted: fanRun.sorted[0]!, achieved: fanRun.achieved };
    const fanNoop = fanRun.sorted[1]!;
    console.log(`  p50 / p99 ${ms(fanInRead.sorted)} (${fanRun.loop})`);
    console.log(`  ceiling (a route doing nothing, same server, same instants) p50 / p99 ${ms(fanNoop)}`);

    // Fan-out: one post by an author with FOLLOWERS followers.
    const star = "@star:bench";
    const followers = Array.from({ length: FOLLOWERS }, (_, i) => `@f${i}:bench`);
    graph.addFollowers(star, followers);
    const starSettings = { ...settings, fanoutThreshold: FOLLOWERS * 2 };
    const starFeed = createFeed(databases.get("feed"), { graph, content, store }, bus, logger, {
      feed: starSettings,
    });
    const post = content.add({ authorId: star, createdAt: t++ });
    console.log(`fan-out: one post to ${FOLLOWERS} followers`);
    const f0 = performance.now();
    const result = await starFeed.writer.published({
      postId: post.id,
      authorId: star,
      createdAt: post.createdAt,
    });
    const fanOutMs = performance.now() - f0;
    if (result.mode !== "fan-out" || result.timelines !== FOLLOWERS + 1)
      throw new Error("fan-out incomplete");
    let reached = 0;
    for (let i = 0; i < followers.length; i += 5_000) {
      const pages = await Promise.all(followers.slice(i, i + 5_000).map((f) => store.page(f, null, 1)));
      reached += pages.filter((p) => p[0]?.postId === post.id).length;
    }
    if (reached !== FOLLOWERS) throw new Error(`only ${reached}/${FOLLOWERS} timelines hold the post`);
    console.log(`  ${(fanOutMs / 1000).toFixed(2)} s (${reached} timelines checked)`);
    let ceilingFanOutMs: number | null = null;
    if (redis) {
      const other = randomUUID();
      const c0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < followers.length) {
            const batch = followers.slice(next, next + 2_000);
            next += 2_000;
            const p = redis.pipeline();
            for (const f of batch) p.zadd(`${prefix}tl:${f}`, t, other);
            await p.exec();
          }
        }),
      );
      ceilingFanOutMs = performance.now() - c0;
      console.log(
        `  ceiling (raw pipelined ZADD, no graph paging, no trim) ${(ceilingFanOutMs / 1000).toFixed(2)} s`,
      );
    }

    const load = loadavg()
      .map((l) => l.toFixed(1))
      .join(" / ");
    const section = [
      "## Feed (bench/feed.ts)",
      "",
      `The feed service in the benchmark's process (createFeed on embedded PGlite for preferences, its routes behind the platform's HTTP server, requests over HTTP from the same process), timelines on ${redis ? "Redis" : "**the in-process store (no REDIS_URL: not the Redis numbers the targets are for)**"}. Graph and content are in-memory fakes (test/feed/fakes.ts) answering at once: the numbers are the feed's own work, Redis and HTTP, not graph's or content's gRPC. Fan-out threshold ${THRESHOLD}, timeline cap ${settings.timelineCap}, fan-in posts reused for ${settings.fanInTtlMs} ms.`,
      "",
      "| measurement | Nova | ceiling (same run) | target |",
      "|---|---|---|---|",
      `| \`GET /_nova/v1/feed?limit=20\` at ${RATE}/s for ${SECONDS} s (achieved ${feedRead.achieved.toFixed(0)}/s), reader following ${AUTHORS} fanned-out authors, p50 / p99 | **${ms(feedRead.sorted)}** | at the same instants: a route doing nothing on the same server ${ms(readNoop)}${ceilingRead ? `; raw ZREVRANGE of the same 20 entries ${ms(ceilingRead)}` : ""} | p99 < 20 ms |`,
      `| one post by an author with ${FOLLOWERS.toLocaleString("en")} followers into every timeline (all checked) | **${(fanOutMs / 1000).toFixed(2)} s** | ${ceilingFanOutMs !== null ? `raw pipelined ZADD to the same ${FOLLOWERS.toLocaleString("en")} keys (no graph paging, no trim): ${(ceilingFanOutMs / 1000).toFixed(2)} s` : "—"} | < 5 s |`,
      `| fan-in read at ${RATE}/s (achieved ${fanInRead.achieved.toFixed(0)}/s): ${AUTHORS - FAN_IN_AUTHORS} fanned-out + ${FAN_IN_AUTHORS} fan-in authors, p50 / p99 | **${ms(fanInRead.sorted)}** | at the same instants: a route doing nothing on the same server ${ms(fanNoop)} | p99 < 20 ms |`,
      "",
      `During the read: ${readRun.loop}; during the fan-in read: ${fanRun.loop} (the benchmark's process: the feed, its HTTP server, the load generator). The p99s swing from run to run on this shared machine; the ceilings, measured at the same instants, show how much of a tail is the machine's (a route doing nothing stalls with it) and not the feed's work.`,
      "",
      `Load average at the end: ${load} (1/5/15 min) on this 2-core machine, which the feed, Redis, PGlite and this load generator share (other work may run on it).`,
    ].join("\n");
    console.log(section);
    if (!values["no-report"]) {
      writeReportSection("feed", section);
      console.log("wrote the feed section of bench/REPORT.md");
    }
    await starFeed.stop();
  } finally {
    await agent.close();
    await server.close();
    await feed.stop();
    await bus.close();
    await databases.close();
    if (redis) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 5_000);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== "0");
      redis.disconnect();
    }
  }
}

await main();
