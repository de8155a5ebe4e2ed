import pg from "pg";

/**
 * This machine's PostgreSQL runs with autovacuum off (its tests want a quiet server). A benchmark
 * of sustained writes then measures something no deployment runs: indexes holding every row ever
 * updated (the outbox's pending index, the unread-notifications index) and tables without
 * statistics. For the length of a full run, autovacuum is switched on as PostgreSQL ships it
 * (defaults, 1-minute naptime); the returned function puts the setting back. Smoke runs leave the
 * server alone.
 */
export async function withAutovacuum(url: string, log: (s: string) => void): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ autovacuum: string }>("SHOW autovacuum");
    if (rows[0]?.autovacuum === "on") return async () => {};
    await client.query("ALTER SYSTEM SET autovacuum = on");
    await client.query("SELECT pg_reload_conf()");
    log("autovacuum switched on for this run (this machine's PostgreSQL has it off)");
  } finally {
    await client.end();
  }
  return async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query("ALTER SYSTEM RESET autovacuum");
      await c.query("SELECT pg_reload_conf()");
    } finally {
      await c.end();
    }
  };
}
