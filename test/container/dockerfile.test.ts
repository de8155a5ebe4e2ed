import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readDockerfile, readInstructions } from "./dockerfile.ts";
import { ROOT } from "./runtime-dir.ts";

/**
 * What can be checked of the Dockerfile without an engine (hadolint is not in Debian): the build
 * context has what it copies, stages copy from stages that exist, and the image it leaves runs
 * the build as a non-root user with a healthcheck. image.test.ts runs its CMD and HEALTHCHECK.
 */
const file = path.join(ROOT, "Dockerfile");
const steps = readInstructions(file);
const ignored = readFileSync(path.join(ROOT, ".dockerignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));

describe("Dockerfile", () => {
  it("copies only what exists in the build context and is not in .dockerignore", () => {
    const copies = steps.filter((s) => s.instr === "COPY" && !s.args.startsWith("--from="));
    expect(copies.length).toBeGreaterThan(0);
    for (const { args } of copies) {
      const sources = args
        .split(/\s+/)
        .filter((a) => !a.startsWith("--"))
        .slice(0, -1);
      for (const src of sources) {
        expect(existsSync(path.join(ROOT, src)), `COPY ${src}`).toBe(true);
        expect(ignored, `COPY ${src} is in .dockerignore`).not.toContain(src.replace(/\/$/, ""));
      }
    }
  });

  it("copies from stages defined before, and builds with the package's own build script", () => {
    const seen = new Set<string>();
    for (const s of steps) {
      if (s.instr === "FROM" && s.stage) seen.add(s.stage);
      const from = /^--from=(\S+)/.exec(s.instr === "COPY" ? s.args : "")?.[1];
      if (from) expect(seen.has(from) && from !== s.stage, `COPY --from=${from}`).toBe(true);
    }
    const scripts = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: object })
      .scripts;
    expect(steps.some((s) => s.stage === "build" && s.instr === "RUN" && s.args === "npm run build")).toBe(
      true,
    );
    expect(scripts).toHaveProperty("build");
    expect(
      steps.some((s) => s.instr === "RUN" && /npm ci\b.*--omit=dev/.test(s.args)),
      "production dependencies only",
    ).toBe(true);
  });

  it("leaves an image that runs the build as a non-root user, with a healthcheck on /health", () => {
    const image = readDockerfile(file);
    expect(image.user).not.toMatch(/^(root|0)?$/);
    expect(image.cmd?.[0]).toBe("node");
    expect(image.healthcheck?.join(" ")).toMatch(/\/health/);
    expect(image.env.NOVA_HOST).toBe("0.0.0.0");
    expect(image.volumes).toContain(image.env.NOVA_DATA_DIR);
  });
});
