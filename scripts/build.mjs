// `npm run build`: the JavaScript Nova runs from in production (`node dist/server/main.js`, the
// Dockerfile's CMD). tsc emits dist/ from tsconfig.build.json, rewriting the `.ts` import
// extensions to `.js`; the files the code reads by path at run time (the gRPC .proto files, next
// to the module that loads them) are copied beside the emitted modules.
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ASSET, SOURCES as sources } from "./sources.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = path.join(root, "dist");

rmSync(out, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
  {
    cwd: root,
    stdio: "inherit",
  },
);

let copied = 0;
for (const dir of sources) {
  for (const rel of readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" })) {
    if (!ASSET.test(rel)) continue;
    cpSync(path.join(root, dir, rel), path.join(out, dir, rel));
    copied++;
  }
}
console.log(`dist/: built, ${copied} asset files copied`);
