import { spawn, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** `npm run build` in the repository, as the Dockerfile's build stage runs it. */
export function npmRunBuild(): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("npm", ["run", "build"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`npm run build: ${code}\n${out}`))));
  });
}

/**
 * A folder laid out as the image's /app: dist/ and package.json copied, and a node_modules holding
 * only the production dependencies (`npm ls --omit=dev`, what `npm ci --omit=dev` installs; tsx is
 * a devDependency, only for running the source), each a link into the real node_modules. Nova's own imports resolve from here, so code that needs a
 * devDependency, tsx or a source .ts file fails as it would in the container.
 */
export function runtimeDir(): string {
  const app = mkdtempSync(path.join(tmpdir(), "nova-image-"));
  cpSync(path.join(ROOT, "dist"), path.join(app, "dist"), { recursive: true });
  cpSync(path.join(ROOT, "package.json"), path.join(app, "package.json"));
  // npm ls exits 1 on an extraneous or invalid package elsewhere in the tree; the list still holds
  // the installed production tree, and a package Nova needs that is missing fails the start.
  const listed = spawnSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (!listed.stdout) throw new Error(`npm ls --omit=dev printed nothing: ${listed.stderr}`);
  const top = path.join(ROOT, "node_modules") + path.sep;
  for (const dir of listed.stdout.split("\n")) {
    if (!dir.startsWith(top)) continue;
    const rel = dir.slice(top.length);
    // Nested copies (a/node_modules/b) come with their parent's link.
    if (rel.includes(`${path.sep}node_modules${path.sep}`)) continue;
    const target = path.join(app, "node_modules", rel);
    mkdirSync(path.dirname(target), { recursive: true });
    symlinkSync(dir, target, "dir");
  }
  return app;
}
