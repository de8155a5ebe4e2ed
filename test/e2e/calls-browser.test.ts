import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { build } from "esbuild";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callRoom, type TestUser } from "../calls/helpers/call-setup.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);

type Inbound = {
  kind: string;
  framesDecoded: number;
  packetsReceived: number;
  ssrc: number;
  frameWidth: number;
};

/** Serves the test page and its bundle (Nova's call and sync clients, built for the browser). */
async function servePage(): Promise<{ url: string; server: Server }> {
  const bundle = await build({
    entryPoints: [path.join(import.meta.dirname, "calls-page", "page.ts")],
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "chrome120",
    write: false,
    logLevel: "silent",
  });
  const js = bundle.outputFiles[0]!.text;
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Nova call</title></head><body><script>${js}</script></body></html>`;
  const server = createServer((req, res) => {
    if (req.url === "/" || req.url?.startsWith("/?")) {
      res.writeHead(200, { "Content-Type": "text/html" }).end(html);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

describe.skipIf(!hasChromium)(
  "three browsers in one call (skipped: /usr/bin/chromium absent, run .ci/chromium.sh)",
  () => {
    let nova: TestServer;
    let page: { url: string; server: Server };
    let browser: Browser;
    let users: TestUser[];
    let roomId: string;
    const pages: Page[] = [];

    beforeAll(async () => {
      nova = await startTestServer({ NOVA_SFU_ICE_ADDRESS: "127.0.0.1", NOVA_CALL_GRACE_MS: "5000" });
      users = [await nova.register(), await nova.register(), await nova.register()];
      roomId = await callRoom(nova, users[0]!, users.slice(1));
      page = await servePage();
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--headless",
          "--no-sandbox",
          "--use-fake-device-for-media-stream",
          "--use-fake-ui-for-media-stream",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--no-first-run",
          // ICE on loopback only: the SFU binds 127.0.0.1 and the browser must offer it too.
          "--allow-loopback-in-peer-connection",
          // Decoding in a page nobody looks at must not be throttled.
          "--disable-background-timer-throttling",
          "--disable-renderer-backgrounding",
          "--autoplay-policy=no-user-gesture-required",
        ],
      });
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await new Promise<void>((r) => (page?.server ? page.server.close(() => r()) : r()));
      await nova?.close();
    });

    const inbound = (p: Page) => p.evaluate(() => window.novaCall.session!.inbound()) as Promise<Inbound[]>;
    /** Polls `cond`; on timeout the error carries what `seen` last described. */
    const waitUntil = async (
      what: string,
      cond: () => Promise<boolean>,
      timeoutMs: number,
      seen?: () => string,
    ) => {
      const until = Date.now() + timeoutMs;
      while (!(await cond())) {
        if (Date.now() > until) throw new Error(`timed out: ${what}${seen ? `; last seen ${seen()}` : ""}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    };

    it("each page publishes fake audio+video and decodes the other two; a page leaving is seen", async () => {
      const callIds: (string | null)[] = [];
      for (const u of users) {
        const p = await browser.newPage();
        p.on("pageerror", (e) => console.error("page error:", e.message));
        pages.push(p);
        await p.goto(page.url);
        const r = await p.evaluate((cfg) => window.novaCall.join(cfg), {
          baseUrl: nova.baseUrl,
          accessToken: u.accessToken,
          roomId,
          // The third page takes at most 60 kbit/s per video stream (its bandwidth ceiling).
          maxBitrate: u === users[2] ? 60_000 : undefined,
        });
        callIds.push(r.callId);
      }
      expect(new Set(callIds).size).toBe(1);
      expect(nova.calls.callOf(roomId)?.participants).toHaveLength(3);

      // Every page receives two video and two audio streams, and decodes video.
      await waitUntil(
        "two decoding video and two audio streams on every page",
        async () => {
          for (const p of pages) {
            const s = await inbound(p);
            const video = s.filter((x) => x.kind === "video" && x.framesDecoded > 0);
            const audio = s.filter((x) => x.kind === "audio" && x.packetsReceived > 0);
            if (video.length < 2 || audio.length < 2) return false;
          }
          return true;
        },
        45_000,
      );
      // ...and keeps decoding: framesDecoded grows, audio packets keep arriving.
      const first = await Promise.all(pages.map(inbound));
      await new Promise((r) => setTimeout(r, 2000));
      const second = await Promise.all(pages.map(inbound));
      for (let i = 0; i < pages.length; i++) {
        for (const kind of ["video", "audio"] as const) {
          const grew = second[i]!.filter((s) => {
            const before = first[i]!.find((b) => b.ssrc === s.ssrc && b.kind === kind);
            if (s.kind !== kind || !before) return false;
            return kind === "video"
              ? s.framesDecoded > before.framesDecoded
              : s.packetsReceived > before.packetsReceived;
          });
          expect(grew.length, `page ${i} ${kind} streams progressing`).toBeGreaterThanOrEqual(2);
        }
      }

      // The SFU holds the publishers the third page receives to its ceiling (REMB): an uncapped
      // 320×240 fake camera sends ~200 kbit/s here; capped ones stay near 60.
      const sentBytes = () =>
        Promise.all(
          pages.slice(0, 2).map((p) => p.evaluate(() => window.novaCall.session!.videoBytesSent())),
        );
      await new Promise((r) => setTimeout(r, 2000));
      const b0 = await sentBytes();
      await new Promise((r) => setTimeout(r, 3000));
      const b1 = await sentBytes();
      for (let i = 0; i < 2; i++) {
        const kbps = ((b1[i]! - b0[i]!) * 8) / 3000;
        expect(kbps, `page ${i} video send rate under the third page's ceiling`).toBeLessThan(110);
        expect(kbps).toBeGreaterThan(5);
      }

      // The third page leaves: the others are told, and the server's call has two participants.
      const leaver = users[2]!;
      await pages[2]!.evaluate(() => window.novaCall.session!.leave());
      for (const p of pages.slice(0, 2)) {
        await waitUntil(
          "participant_left seen",
          () =>
            p.evaluate(
              (uid) =>
                window.novaCall.session!.events.some(
                  (e) => e.type === "participant_left" && e.user_id === uid,
                ),
              leaver.userId,
            ),
          10_000,
        );
      }
      expect(
        nova.calls
          .callOf(roomId)
          ?.participants.map((x) => x.user_id)
          .sort(),
      ).toEqual([users[0]!.userId, users[1]!.userId].sort());
      // The two left keep decoding each other after renegotiating without the third.
      await new Promise((r) => setTimeout(r, 1500));
      const third = await Promise.all(pages.slice(0, 2).map(inbound));
      await new Promise((r) => setTimeout(r, 2000));
      const fourth = await Promise.all(pages.slice(0, 2).map(inbound));
      for (let i = 0; i < 2; i++) {
        const progressing = fourth[i]!.filter((s) => {
          const before = third[i]!.find((b) => b.ssrc === s.ssrc);
          return s.kind === "video" && before !== undefined && s.framesDecoded > before.framesDecoded;
        });
        expect(progressing.length, `page ${i} still decoding after the leave`).toBe(1);
      }
      for (const p of pages.splice(0)) await p.close();
    }, 120_000);

    it("simulcast: each subscriber gets the layer that fits its ceiling", async () => {
      const [s, u, c] = [await nova.register(), await nova.register(), await nova.register()];
      const room = await callRoom(nova, s, [u, c]);
      // s sends 640×480 and 320×240 layers; u takes anything; c takes at most 250 kbit/s.
      const configs = [{ simulcast: true }, {}, { maxBitrate: 250_000 }];
      const who = [s, u, c];
      for (let i = 0; i < 3; i++) {
        const p = await browser.newPage();
        pages.push(p);
        await p.goto(page.url);
        await p.evaluate((cfg) => window.novaCall.join(cfg), {
          baseUrl: nova.baseUrl,
          accessToken: who[i]!.accessToken,
          roomId: room,
          ...configs[i],
        });
      }
      const [, uPage, cPage] = pages as [Page, Page, Page];
      let last: unknown = null;
      // Only s can deliver 640-wide video. u gets its high layer; c, under its ceiling, the low one.
      await waitUntil(
        "u decoding s's 640 layer while c decodes only 320-wide streams",
        async () => {
          const [us, cs] = [await inbound(uPage), await inbound(cPage)];
          last = { u: us.filter((x) => x.kind === "video"), c: cs.filter((x) => x.kind === "video") };
          const cVideo = cs.filter((x) => x.kind === "video" && x.framesDecoded > 0);
          return (
            us.some((x) => x.kind === "video" && x.frameWidth === 640 && x.framesDecoded > 0) &&
            cVideo.length === 2 &&
            cVideo.every((x) => x.frameWidth > 0 && x.frameWidth <= 320)
          );
        },
        60_000,
        () => JSON.stringify(last),
      );
      for (const p of pages.splice(0)) await p.close();
    }, 120_000);
  },
);
