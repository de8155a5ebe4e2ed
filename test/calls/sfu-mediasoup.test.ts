import { describe, expect, it } from "vitest";
import { loadConfig } from "../../server/config.ts";
import { sfuConformance } from "./helpers/sfu-conformance.ts";

const workerBin = process.env.MEDIASOUP_WORKER_BIN;

if (workerBin) {
  sfuConformance(
    "mediasoup",
    async () => {
      const { MediasoupSfu } = await import("../../calls/sfu/mediasoup.ts");
      return MediasoupSfu.start({ iceAddress: "127.0.0.1", maxVideoBitrate: 1_500_000, workerBin });
    },
    { rembIsCeiling: false },
  );
} else {
  describe.skip("mediasoup SFU (skipped: MEDIASOUP_WORKER_BIN is not set; npm cannot build mediasoup's worker here)", () => {
    it("runs the Sfu conformance suite", () => {});
  });
}

describe("SFU choice", () => {
  it("is made by NOVA_SFU and defaults to werift", () => {
    expect(loadConfig({}).calls.sfu).toBe("werift");
    expect(loadConfig({ NOVA_SFU: "mediasoup" }).calls.sfu).toBe("mediasoup");
    expect(() => loadConfig({ NOVA_SFU: "janus" })).toThrow(/NOVA_SFU/);
  });

  it.skipIf(Boolean(workerBin))("refuses mediasoup without a worker binary, saying why", async () => {
    const { MediasoupSfu } = await import("../../calls/sfu/mediasoup.ts");
    await expect(MediasoupSfu.start({ maxVideoBitrate: 1_000_000 })).rejects.toThrow(/MEDIASOUP_WORKER_BIN/);
  });
});
