import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PGlite, type PGliteOptions } from "@electric-sql/pglite";
import { afterAll, describe, expect, it } from "vitest";
import {
  createFromTemplate,
  isNewCluster,
} from "../../companion-services/platform/database/pglite-template.ts";

describe("new embedded clusters from a template of initdb's output", () => {
  const root = mkdtempSync(path.join(tmpdir(), "nova-template-"));
  const template = path.join(root, "cache", "cluster.tar");
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const opened: PGliteOptions[] = [];
  const create = (o: PGliteOptions) => {
    opened.push(o);
    return PGlite.create(o);
  };

  it("runs initdb once, saves the template, then loads new clusters from it", {
    timeout: 60_000,
  }, async () => {
    const first = path.join(root, "a");
    const a = await createFromTemplate(create, { dataDir: first }, template);
    await a.query("CREATE TABLE only_in_a (x int)");
    await a.close();
    expect(opened[0]!.loadDataDir).toBeUndefined();
    expect(existsSync(template)).toBe(true);
    expect(isNewCluster(first)).toBe(false);

    // A new directory starts from the template: initdb's output, nothing written after it.
    const second = path.join(root, "b");
    const b = await createFromTemplate(create, { dataDir: second }, template);
    expect(opened[1]!.loadDataDir).toBeInstanceOf(Blob);
    const tables = await b.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'only_in_a'",
    );
    expect(tables.rows[0]!.n).toBe(0);
    await b.query("CREATE TABLE kept (x int)");
    await b.query("INSERT INTO kept VALUES (7)");
    await b.close();

    // An existing cluster is opened as it is, with what was written to it.
    const again = await createFromTemplate(create, { dataDir: second }, template);
    expect(opened[2]!.loadDataDir).toBeUndefined();
    expect((await again.query<{ x: number }>("SELECT x FROM kept")).rows).toEqual([{ x: 7 }]);
    await again.close();

    // In memory too.
    const mem = await createFromTemplate(create, {}, template);
    expect(opened[3]!.loadDataDir).toBeInstanceOf(Blob);
    expect((await mem.query<{ one: number }>("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    await mem.close();
  });
});
