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
];

export default defineConfig({
  test: {
    pool: "forks",
    maxWorkers: 2,
    projects: process.env.DATABASE_URL
      ? [
          { test: { ...shared, name: "postgres", include: ["test/**/*.test.ts"] } },
          { test: { ...shared, name: "pglite", include: pgliteAgain, env: { NOVA_TEST_BACKEND: "pglite" } } },
        ]
      : [{ test: { ...shared, name: "pglite", include: ["test/**/*.test.ts"] } }],
  },
});
