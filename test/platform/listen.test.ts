import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { AddressInUseError } from "../../companion-services/platform/http/listen-error.ts";
import { Router } from "../../companion-services/platform/http/router.ts";
import { HttpServer } from "../../companion-services/platform/http/server.ts";
import { createLogger } from "../../companion-services/platform/logger.ts";
import { listen as grpcListen } from "../../companion-services/platform/rpc/server.ts";
import { backendFreeEnv, type ServerProcess, startServerProcess } from "../helpers/process.ts";

/** A server answering GET /who with its name, to tell which process a request reached. */
function named(name: string): HttpServer {
  const router = new Router().get("/who", () => ({ body: { name } }), { auth: "none" });
  return new HttpServer({
    router,
    logger: createLogger("silent"),
    maxRequestBody: 1024,
    authenticate: async () => {
      throw new Error("no auth here");
    },
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  const port = await new Promise<number>((r) =>
    s.listen(0, "127.0.0.1", () => r((s.address() as { port: number }).port)),
  );
  await new Promise((r) => s.close(r));
  return port;
}

describe("listening on a port in use", () => {
  const open: HttpServer[] = [];
  const nets: Server[] = [];
  afterAll(async () => {
    for (const s of open) await s.close(100);
    for (const n of nets) n.close();
  });

  it("refuses a second server on the same port by default, with AddressInUseError", async () => {
    const first = named("first");
    open.push(first);
    const port = await first.listen("127.0.0.1", 0);
    const second = named("second");
    const err = await second.listen("127.0.0.1", port).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AddressInUseError);
    expect((err as Error).message).toBe(`address in use: 127.0.0.1:${port}`);
    // Every request still reaches the first server (before, they alternated between the two).
    for (let i = 0; i < 5; i++) {
      const r = (await (await fetch(`http://127.0.0.1:${port}/who`)).json()) as { name: string };
      expect(r.name).toBe("first");
    }
  });

  it("shares the port between replicas that both ask for it (reusePort)", async () => {
    const a = named("a");
    const b = named("b");
    open.push(a, b);
    // A fixed port: Linux does not let a port picked by the kernel (port 0) be shared.
    const port = await freePort();
    await expect(a.listen("127.0.0.1", port, { reusePort: true })).resolves.toBe(port);
    await expect(b.listen("127.0.0.1", port, { reusePort: true })).resolves.toBe(port);
    // An exclusive server cannot join a shared port either.
    await expect(named("c").listen("127.0.0.1", port)).rejects.toBeInstanceOf(AddressInUseError);
  });

  it("names the address when another program (no port sharing) holds it", async () => {
    const holder = createServer();
    nets.push(holder);
    const port = await new Promise<number>((r) =>
      holder.listen(0, "127.0.0.1", () => r((holder.address() as { port: number }).port)),
    );
    await expect(named("x").listen("127.0.0.1", port)).rejects.toThrow(`address in use: 127.0.0.1:${port}`);
    await expect(named("x").listen("127.0.0.1", port, { reusePort: true })).rejects.toBeInstanceOf(
      AddressInUseError,
    );
    // gRPC listeners (identity, media) go the same way.
    const g = new grpc.Server();
    const gErr = await grpcListen(g, `127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(gErr).toBeInstanceOf(AddressInUseError);
    expect((gErr as Error).message).toBe(`address in use: 127.0.0.1:${port}`);
    g.forceShutdown();
  });
});

describe("npm start on a port in use", () => {
  let first: ServerProcess | undefined;
  const dirs: string[] = [];
  afterAll(async () => {
    await first?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("exits with code 2 and one line naming the address, no stack", async () => {
    first = await startServerProcess({ NOVA_ADMIN_PORT: "0" });
    const dataDir = mkdtempSync(path.join(tmpdir(), "nova-busy-"));
    dirs.push(dataDir);
    const root = path.resolve(import.meta.dirname, "../..");
    const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts"], {
      cwd: root,
      env: {
        ...backendFreeEnv(),
        NOVA_PORT: String(first.port),
        NOVA_ADMIN_PORT: "0",
        NOVA_DATA_DIR: dataDir,
        NOVA_LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    expect(code).toBe(2);
    expect(stderr).toBe(`address in use: 127.0.0.1:${first.port}\n`);
  }, 90_000);
});
