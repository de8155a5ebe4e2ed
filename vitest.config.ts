import { defineConfig } from "vitest/config";

const shared = {
  testTimeout: 30_000,
  hookTimeout: 90_000,
};

/**
 * With DATABASE_URL set (CI), the whole suite runs on real PostgreSQL and the Client-Server API
 * suites run a second time on the embedded PGlite, the default `npm start` uses. Without it,
 * everything runs once on PGlite and the tests needing real backends skip with their reason.
 */
const pgliteAgain = [
  "test/server/**/*.test.ts",
  "test/crypto/**/*.test.ts",
  "test/e2e/matrix-js-sdk.test.ts",
  "test/e2e/js-sdk-relations.test.ts",
  "test/e2e/sliding-sync.test.ts",
  "test/sliding/**/*.test.ts",
  "test/sync/ws-sliding.test.ts",
];

/**
 * Tests of the embedded database's own operations (the data-dir lock, backups, start and stop,
 * the config file), each starting servers as processes without a DATABASE_URL: on PostgreSQL's
 * project they would only run the same PGlite checks a second time.
 */
const embeddedOnly = [
  "test/server/ops-start.test.ts",
  "test/server/ops-backup.test.ts",
  "test/server/ops-shutdown.test.ts",
  "test/server/config-check.test.ts",
];

/**
 * Tests whose outcome depends on having the CPU: browsers adapting their encoders and bandwidth
 * estimates to a starved SFU, the benchmark smoke runs (one saturates both cores on purpose), the
 * video pipeline's real ffmpeg transcodes, and Kafka's outage test (it stops and restarts the
 * broker and gives the backlog a deadline to drain, which a starved consumer missed once in CI),
 * the container checks (a whole `npm run build`, then the image's command and the compose
 * services started from the build, each migrating on a fresh database with healthcheck deadlines)
 * and the soak's short run (a fixed-rate mixed load whose every request must succeed in time).
 * They run after everything else, one file at a time, so none starves another or the suite.
 */
const alone = [
  "test/e2e/calls-browser.test.ts",
  "test/sync/ws-bench-smoke.test.ts",
  "test/sliding/bench-smoke.test.ts",
  "test/sync/initial-sync-bench-smoke.test.ts",
  "test/feed/bench-smoke.test.ts",
  "test/media/video-pipeline.test.ts",
  "test/platform/kafka.test.ts",
  "test/container/image.test.ts",
  "test/platform/soak-smoke.test.ts",
];
/**
 * The browsers go first, straight after the suite, as they always have: the Kafka outage test
 * leaves a broker that has just restarted (a JVM catching up) and the video test leaves ffmpeg's
 * caches cold, and the simulcast test's bandwidth estimate once missed its deadline behind them.
 */
const browsers = ["test/e2e/calls-browser.test.ts"];
const aloneProjects = (backend: string) => [
  {
    test: {
      ...shared,
      name: `${backend}-alone`,
      include: browsers,
      fileParallelism: false,
      sequence: { groupOrder: 1 },
    },
  },
  {
    test: {
      ...shared,
      name: `${backend}-late-alone`,
      include: alone.filter((f) => !browsers.includes(f)),
      fileParallelism: false,
      sequence: { groupOrder: 2 },
    },
  },
];

export default defineConfig({
  test: {
    pool: "forks",
    maxWorkers: 2,
    projects: process.env.DATABASE_URL
      ? [
          {
            test: {
              ...shared,
              name: "postgres",
              include: ["test/**/*.test.ts"],
              exclude: [...alone, ...embeddedOnly],
            },
          },
          {
            test: {
              ...shared,
              name: "pglite",
              include: pgliteAgain,
              exclude: alone,
              env: { NOVA_TEST_BACKEND: "pglite" },
            },
          },
          ...aloneProjects("postgres"),
        ]
      : [
          { test: { ...shared, name: "pglite", include: ["test/**/*.test.ts"], exclude: alone } },
          ...aloneProjects("pglite"),
        ],
  },
});
