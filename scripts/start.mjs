// `npm start`: the all-in-one server (server/main.ts) run as JavaScript. Transpiling ~440
// TypeScript modules through tsx's loader hooks at every start cost about a second and the
// hooks' own thread; here esbuild (tsx's own transpiler, so the same output) writes the tree
// once to .nova-build/<key>/ and later starts import it directly. The key hashes every source
// file's path, size and mtime, so an edited, added or removed file builds again at the next
// start: `npm ci && npm start` stays the whole set-up. `npm run build` (tsc → dist/, the
// Dockerfile's) is separate and unchanged.
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ASSET, SOURCES } from "./sources.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const buildsDir = path.join(root, ".nova-build");
/** Builds kept besides the current one: a server started from an older build may still import its lazily loaded modules. */
const KEEP = 4;

function sourceFiles() {
  const files = [];
  for (const dir of SOURCES) {
    for (const rel of readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" })) {
      if (!(rel.endsWith(".ts") && !rel.endsWith(".d.ts")) && !ASSET.test(rel)) continue;
      files.push(path.join(dir, rel));
    }
  }
  return files.sort();
}

function keyOf(files) {
  const h = createHash("sha256");
  for (const f of [...files, "package.json", "tsconfig.json", "scripts/start.mjs", "scripts/sources.mjs"]) {
    const s = statSync(path.join(root, f));
    h.update(`${f}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return h.digest("hex").slice(0, 16);
}

/** Relative imports keep their place in the tree with `.js` for `.ts`; packages stay imports. */
const externalEverything = {
  name: "nova-external",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point") return undefined;
      return { path: args.path.replace(/\.ts$/, ".js"), external: true };
    });
  },
};

async function build(files, target) {
  const { build: esbuild } = await import("esbuild");
  // Written beside the final place and renamed into it: concurrent starts (tests) never see half a tree.
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  await esbuild({
    absWorkingDir: root,
    entryPoints: files.filter((f) => f.endsWith(".ts")),
    outdir: tmp,
    outbase: ".",
    bundle: true,
    plugins: [externalEverything],
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: true,
    logLevel: "error",
  });
  for (const f of files) if (ASSET.test(f)) cpSync(path.join(root, f), path.join(tmp, f));
  // The version the admin API reports (server/admin) and "type": "module" for the .js files.
  cpSync(path.join(root, "package.json"), path.join(tmp, "package.json"));
  writeFileSync(path.join(tmp, ".complete"), "");
  try {
    renameSync(tmp, target);
  } catch (err) {
    // Another start built the same key first: its tree is the same.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(path.join(target, ".complete"))) throw err;
  }
}

function prune(current) {
  const all = readdirSync(buildsDir).map((d) => ({ d, at: statSync(path.join(buildsDir, d)).mtimeMs }));
  const builds = all.filter(({ d }) => d !== current && !d.includes(".tmp-")).sort((a, b) => b.at - a.at);
  // A half-written tree of a start that was killed while building.
  const abandoned = all.filter(({ d, at }) => d.includes(".tmp-") && Date.now() - at > 600_000);
  for (const { d } of [...builds.slice(KEEP), ...abandoned]) {
    rmSync(path.join(buildsDir, d), { recursive: true, force: true });
  }
}

const files = sourceFiles();
const key = keyOf(files);
const target = path.join(buildsDir, key);
if (!existsSync(path.join(target, ".complete"))) {
  mkdirSync(buildsDir, { recursive: true });
  await build(files, target);
  prune(key);
}
await import(pathToFileURL(path.join(target, "server/main.js")).href);
