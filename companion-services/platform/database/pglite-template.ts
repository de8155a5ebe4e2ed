import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { PGlite, PGliteOptions } from "@electric-sql/pglite";

/**
 * A new embedded database starts from a copy of an empty cluster instead of running initdb:
 * initdb in WebAssembly takes about 2 s and peaks near 800 MB, loading the copy about 0.4 s and
 * 300 MB. The copy is made by the first start after `npm ci` (it pays initdb once) and kept next
 * to the installed PGlite, so a reinstall or an upgrade of PGlite makes a new one; it is the
 * exact output of that PGlite's initdb, before any migration.
 */
export function templatePath(): string | null {
  try {
    // The package exports no package.json: find it from its entry point (dist/index.cjs).
    const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
    const pkgDir = path.resolve(path.dirname(entry), "..");
    const { version } = JSON.parse(readFileSync(path.join(pkgDir, "package.json"), "utf8")) as {
      version: string;
    };
    // node_modules/@electric-sql/pglite → node_modules/.cache/nova/
    const nodeModules = path.resolve(pkgDir, "..", "..");
    return path.join(nodeModules, ".cache", "nova", `pglite-${version}-cluster.tar`);
  } catch {
    return null;
  }
}

/** Whether `dataDir` (undefined: in memory) holds no cluster yet. */
export function isNewCluster(dataDir: string | undefined): boolean {
  return dataDir === undefined || !existsSync(path.join(dataDir, "PG_VERSION"));
}

/**
 * Opens PGlite on `options.dataDir`; a new cluster is loaded from the template when there is one,
 * else created by initdb and then saved as the template for the next ones. Saving is best effort
 * (a read-only install just keeps running initdb).
 */
export async function createFromTemplate(
  create: (options: PGliteOptions) => Promise<PGlite>,
  options: PGliteOptions,
  template: string | null = templatePath(),
): Promise<PGlite> {
  if (!template || !isNewCluster(options.dataDir)) return create(options);
  if (existsSync(template)) {
    return create({ ...options, loadDataDir: new Blob([readFileSync(template)]) });
  }
  const db = await create(options);
  try {
    const dump = await db.dumpDataDir("none");
    mkdirSync(path.dirname(template), { recursive: true });
    // Written aside, then renamed: a concurrent start reads either no template or a whole one.
    const partial = `${template}.${process.pid}.partial`;
    writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
    renameSync(partial, template);
  } catch {
    // No template this time: the next new cluster runs initdb again.
  }
  return db;
}
