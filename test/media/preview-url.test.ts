import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { MediaLibrary } from "../../companion-services/media/library.ts";
import { UrlPreviewer, type UrlPreviewSettings } from "../../companion-services/media/preview/previewer.ts";
import type { MediaTables } from "../../companion-services/media/tables.ts";
import { MatrixError } from "../../companion-services/platform/errors.ts";
import { openFresh, silentLogger } from "../platform/helpers.ts";

/** A MediaLibrary that keeps what it is given (the lead wires the real one). */
class FakeLibrary implements MediaLibrary {
  readonly serverName = "test.nova";
  readonly stored: { userId: string; bytes: Buffer; contentType: string | undefined }[] = [];
  get blobs(): never {
    throw new Error("not used by previews");
  }
  async storeUpload(input: { userId: string; bytes: Buffer; contentType?: string | undefined }) {
    const mediaId = `m${this.stored.length}`;
    this.stored.push({ userId: input.userId, bytes: input.bytes, contentType: input.contentType });
    return { mediaId, mxc: `mxc://${this.serverName}/${mediaId}` };
  }
  async info() {
    return null;
  }
  async bytes() {
    return null;
  }
}

const hits = new Map<string, number>();
let png: Buffer;
let server: Server;
let base: string;
let port: number;
let env: Awaited<ReturnType<typeof openFresh>>;
let library: FakeLibrary;

function html(res: ServerResponse, body: string | Buffer, type = "text/html; charset=utf-8") {
  res.writeHead(200, { "content-type": type });
  res.end(body);
}

beforeAll(async () => {
  png = await sharp({ create: { width: 40, height: 30, channels: 3, background: "#336699" } })
    .png()
    .toBuffer();
  server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === "/og")
      return html(
        res,
        `<!doctype html><html><head><title>Ignored title</title>
        <meta property="og:title" content="Nova &amp; friends">
        <meta name="og:description" content="A homeserver">
        <meta property="og:type" content="website">
        <meta property="og:image" content="/img.png">
        <meta property="og:image:width" content="9999">
        </head><body>hi</body></html>`,
      );
    if (path === "/img.png") {
      res.writeHead(200, { "content-type": "image/png" });
      return res.end(png);
    }
    if (path === "/fallback")
      return html(
        res,
        `<html><head><title> Plain  page </title><meta name="description" content="Described"></head></html>`,
      );
    if (path === "/latin1")
      return html(
        res,
        Buffer.from(`<html><head><title>Caf\u00e9 cr\u00e8me</title></head></html>`, "latin1"),
        "text/html; charset=iso-8859-1",
      );
    if (path === "/meta-charset")
      return html(
        res,
        Buffer.from(`<html><head><meta charset="latin1"><title>\u00fcber</title></head></html>`, "latin1"),
        "text/html",
      );
    if (path.startsWith("/chain/")) {
      const n = Number(path.slice("/chain/".length));
      res.writeHead(302, { location: n > 0 ? `/chain/${n - 1}` : "/og" });
      return res.end();
    }
    if (path === "/to-private") {
      res.writeHead(302, { location: "http://10.0.0.1/" });
      return res.end();
    }
    if (path === "/to-metadata") {
      res.writeHead(301, { location: "http://169.254.169.254/latest/meta-data/" });
      return res.end();
    }
    if (path === "/big") {
      res.writeHead(200, { "content-type": "text/html" });
      res.write(`<html><head><meta property="og:title" content="Big page"></head><body>`);
      const pad = "x".repeat(64 * 1024);
      let sent = 0;
      const more = () => {
        while (sent < 40 && !res.destroyed) {
          sent++;
          if (!res.write(pad)) return res.once("drain", more);
        }
        res.end("</body></html>");
      };
      res.on("error", () => undefined);
      return more();
    }
    if (path === "/big-image") {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(
        `<html><head><meta property="og:title" content="t"><meta property="og:image" content="/huge.png"></head></html>`,
      );
    }
    if (path === "/huge.png") {
      res.writeHead(200, { "content-type": "image/png", "content-length": String(png.length + 300_000) });
      res.write(png);
      res.on("error", () => undefined);
      return res.end(Buffer.alloc(300_000));
    }
    if (path === "/broken-image") {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(
        `<html><head><meta property="og:title" content="t"><meta property="og:image" content="/missing.png"></head></html>`,
      );
    }
    if (path === "/private-image") {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(
        `<html><head><meta property="og:title" content="t"><meta property="og:image" content="http://10.0.0.1/x.png"></head></html>`,
      );
    }
    if (path === "/slow-headers") {
      setTimeout(() => html(res, "<title>late</title>"), 3000).unref();
      return;
    }
    if (path === "/slow-body") {
      res.writeHead(200, { "content-type": "text/html" });
      res.write("<html><head>");
      const t = setInterval(() => {
        if (res.destroyed) return clearInterval(t);
        res.write(" ");
      }, 100);
      t.unref();
      res.on("close", () => clearInterval(t));
      return;
    }
    if (path === "/json") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(`{"og:title":"no"}`);
    }
    if (path === "/gone") {
      res.writeHead(404, { "content-type": "text/html" });
      return res.end("<title>nope</title>");
    }
    if (path === "/count") return html(res, `<title>counted ${hits.get(path)}</title>`);
    if (path === "/host") return html(res, `<title>${req.headers.host}</title>`);
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  env = await openFresh(["media"]);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await env?.close();
});

beforeEach(() => {
  library = new FakeLibrary();
});

function previewer(
  settings: Partial<UrlPreviewSettings> = {},
  resolve?: (h: string) => Promise<{ address: string; family: number }[]>,
) {
  return new UrlPreviewer({
    db: env.databases.get<MediaTables>("media").db,
    library,
    logger: silentLogger,
    settings: { allowLoopback: true, maxBytes: 256 * 1024, timeoutMs: 1000, ...settings },
    ...(resolve ? { resolve } : {}),
  });
}

async function refusal(p: Promise<unknown>): Promise<{ status: number; errcode: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MatrixError) return { status: err.status, errcode: err.errcode };
    throw err;
  }
  throw new Error("expected a MatrixError");
}

/** A unique URL per test, so the shared cache never answers for another test. */
let n = 0;
const fresh = (path: string) => `${base}${path}?t=${++n}`;

describe("UrlPreviewer on a loopback server (allowLoopback)", () => {
  it("reads OpenGraph tags and re-hosts og:image with its size fields", async () => {
    const og = await previewer().preview(fresh("/og"), "@alice:test.nova");
    expect(og).toEqual({
      "og:title": "Nova & friends",
      "og:description": "A homeserver",
      "og:type": "website",
      "og:image": "mxc://test.nova/m0",
      "og:image:type": "image/png",
      "og:image:width": 40,
      "og:image:height": 30,
      "matrix:image:size": png.length,
    });
    expect(library.stored).toHaveLength(1);
    expect(library.stored[0]!.userId).toBe("@alice:test.nova");
    expect(library.stored[0]!.bytes.equals(png)).toBe(true);
  });

  it("falls back to <title> and meta description", async () => {
    expect(await previewer().preview(fresh("/fallback"), "@a:t")).toEqual({
      "og:title": "Plain page",
      "og:description": "Described",
    });
  });

  it("decodes the charset of the header and of <meta charset>", async () => {
    expect(await previewer().preview(fresh("/latin1"), "@a:t")).toEqual({ "og:title": "Café crème" });
    expect(await previewer().preview(fresh("/meta-charset"), "@a:t")).toEqual({ "og:title": "über" });
  });

  it("follows up to five redirects and refuses a sixth", async () => {
    const og = await previewer().preview(fresh("/chain/4"), "@a:t");
    expect(og["og:title"]).toBe("Nova & friends");
    expect(await refusal(previewer().preview(fresh("/chain/5"), "@a:t"))).toEqual({
      status: 502,
      errcode: "M_UNKNOWN",
    });
  });

  it("truncates an oversized page at maxBytes and parses what it read", async () => {
    const og = await previewer({ maxBytes: 16 * 1024 }).preview(fresh("/big"), "@a:t");
    expect(og).toEqual({ "og:title": "Big page" });
  });

  it("drops an og:image over maxBytes or failing to fetch, keeping the rest", async () => {
    const p = previewer({ maxBytes: 64 * 1024 });
    expect(await p.preview(fresh("/big-image"), "@a:t")).toEqual({ "og:title": "t" });
    expect(await p.preview(fresh("/broken-image"), "@a:t")).toEqual({ "og:title": "t" });
    expect(await p.preview(fresh("/private-image"), "@a:t")).toEqual({ "og:title": "t" });
    expect(library.stored).toHaveLength(0);
  });

  it("times out a server slow to answer or slow to finish (502)", async () => {
    const p = previewer({ timeoutMs: 300 });
    const started = Date.now();
    expect(await refusal(p.preview(fresh("/slow-headers"), "@a:t"))).toEqual({
      status: 502,
      errcode: "M_UNKNOWN",
    });
    expect(await refusal(p.preview(fresh("/slow-body"), "@a:t"))).toEqual({
      status: 502,
      errcode: "M_UNKNOWN",
    });
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it("answers {} for content that is neither HTML nor an image, and 502 for an HTTP error", async () => {
    expect(await previewer().preview(fresh("/json"), "@a:t")).toEqual({});
    expect(await refusal(previewer().preview(fresh("/gone"), "@a:t"))).toEqual({
      status: 502,
      errcode: "M_UNKNOWN",
    });
  });

  it("previews an image URL as its own og:image", async () => {
    const og = await previewer().preview(fresh("/img.png"), "@a:t");
    expect(og).toEqual({
      "og:image": "mxc://test.nova/m0",
      "og:image:type": "image/png",
      "og:image:width": 40,
      "og:image:height": 30,
      "matrix:image:size": png.length,
    });
  });

  it("answers from the cache without refetching, until the entry expires", async () => {
    const url = fresh("/count");
    const p = previewer();
    const first = await p.preview(url, "@a:t");
    const again = await previewer().preview(url, "@b:t", Date.now() - 60_000);
    expect(again).toEqual(first);
    expect(hits.get("/count")).toBe(1);
    const short = previewer({ cacheTtlMs: 1 });
    const url2 = fresh("/count");
    await short.preview(url2, "@a:t");
    await new Promise((r) => setTimeout(r, 5));
    expect((await short.preview(url2, "@a:t"))["og:title"]).toBe("counted 3");
    expect(await short.pruneExpired()).toBeGreaterThanOrEqual(1);
  });

  it("shares one fetch between concurrent requests for a URL", async () => {
    const url = fresh("/count");
    const before = hits.get("/count") ?? 0;
    const p = previewer();
    const [a, b] = await Promise.all([p.preview(url, "@a:t"), p.preview(url, "@b:t")]);
    expect(a).toEqual(b);
    expect(hits.get("/count")).toBe(before + 1);
  });

  it("connects only to the address it checked (the agent's lookup is pinned)", async () => {
    const seen: string[] = [];
    const p = previewer({}, async (host) => {
      seen.push(host);
      return [{ address: "127.0.0.1", family: 4 }];
    });
    const og = await p.preview(`http://preview.invalid:${port}/host?t=${++n}`, "@a:t");
    expect(og["og:title"]).toBe(`preview.invalid:${port}`);
    expect(seen).toEqual(["preview.invalid"]);
  });
});

describe("UrlPreviewer's refusals", () => {
  it("refuses loopback unless allowed (403)", async () => {
    const p = previewer({ allowLoopback: false });
    expect(await refusal(p.preview(fresh("/og"), "@a:t"))).toEqual({ status: 403, errcode: "M_FORBIDDEN" });
    expect(await refusal(p.preview(`http://localhost:${port}/og`, "@a:t"))).toEqual({
      status: 403,
      errcode: "M_FORBIDDEN",
    });
    expect(await refusal(p.preview(`http://[::1]:${port}/og`, "@a:t"))).toEqual({
      status: 403,
      errcode: "M_FORBIDDEN",
    });
  });

  it("refuses private, metadata and IPv4-mapped addresses without connecting", async () => {
    const p = previewer({ allowLoopback: false, timeoutMs: 5000 });
    for (const url of [
      "http://10.0.0.1/",
      "http://169.254.169.254/",
      "http://[::ffff:127.0.0.1]/",
      "http://[fd00::1]/",
    ]) {
      const started = Date.now();
      expect(await refusal(p.preview(url, "@a:t"))).toEqual({ status: 403, errcode: "M_FORBIDDEN" });
      expect(Date.now() - started).toBeLessThan(500);
    }
  });

  it("refuses a host whose addresses include a blocked one", async () => {
    const p = previewer({ allowLoopback: true }, async () => [
      { address: "93.184.216.34", family: 4 },
      { address: "192.168.1.1", family: 4 },
    ]);
    expect(await refusal(p.preview("http://mixed.invalid/", "@a:t"))).toEqual({
      status: 403,
      errcode: "M_FORBIDDEN",
    });
  });

  it("refuses a redirect from an allowed page to a blocked address", async () => {
    const p = previewer({ allowLoopback: true });
    expect(await refusal(p.preview(fresh("/to-private"), "@a:t"))).toEqual({
      status: 403,
      errcode: "M_FORBIDDEN",
    });
    expect(await refusal(p.preview(fresh("/to-metadata"), "@a:t"))).toEqual({
      status: 403,
      errcode: "M_FORBIDDEN",
    });
  });

  it("refuses what is not an http(s) URL (400)", async () => {
    for (const url of ["ftp://example.org/x", "javascript:alert(1)", "file:///etc/passwd", "not a url"]) {
      expect(await refusal(previewer().preview(url, "@a:t"))).toEqual({
        status: 400,
        errcode: "M_INVALID_PARAM",
      });
    }
  });
});
