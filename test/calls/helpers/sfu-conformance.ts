import { afterEach, describe, expect, it } from "vitest";
import { type Sfu, SfuInputError } from "../../../calls/sfu.ts";
import { CountingSubscriber, SyntheticPublisher, waitFor } from "./werift-peer.ts";

/**
 * What every implementation of the Sfu port must do, driven by werift peers on loopback:
 * forwarding, PLI on subscriber join, mute, cleanup when a publisher goes, client errors for
 * malformed parameters. `rembIsCeiling`: the SFU tells publishers exactly the subscribers' ceiling
 * (werift's REMB); mediasoup runs its own estimator and enforces the ceiling on the subscriber side.
 */
export function sfuConformance(
  name: string,
  make: () => Promise<Sfu>,
  opts: { rembIsCeiling: boolean },
): void {
  describe(`${name} SFU`, () => {
    const cleanup: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const fn of cleanup.splice(0).reverse()) await fn();
    });

    it("forwards a publisher's audio and video to a subscriber, relays PLI on join, caps bitrate by REMB", async () => {
      const sfu = await make();
      cleanup.push(() => sfu.close());
      const router = await sfu.createRouter("call-1");

      const pub = new SyntheticPublisher();
      cleanup.push(() => pub.close());
      const send = await router.createSendTransport("alice");
      const produced: string[] = [];
      send.onProducer((p) => produced.push(p.kind));
      await pub.answer(await send.negotiate(await pub.offer()));
      await waitFor(() => send.state === "connected", 10_000, "send transport connected");
      pub.start(50, 800);
      await waitFor(() => produced.length === 2, 5_000, "two producers");
      expect(produced.sort()).toEqual(["audio", "video"]);

      const sub = new CountingSubscriber();
      cleanup.push(() => sub.close());
      const plisBefore = pub.plis.length;
      const recv = await router.createRecvTransport("bob", { maxBitrate: 300_000 });
      for (const p of router.producers()) await recv.consume(p);
      await recv.applyAnswer(await sub.answer(await recv.createOffer()));
      await waitFor(() => recv.state === "connected", 10_000, "recv transport connected");

      await waitFor(() => sub.received.video > 20 && sub.received.audio > 10, 10_000, "media at subscriber");
      // The subscriber joining made the SFU ask the publisher for a keyframe.
      await waitFor(() => pub.plis.length > plisBefore, 5_000, "PLI at publisher");
      // The REMB sent upstream is this subscriber's ceiling, not the SFU's maximum.
      if (opts.rembIsCeiling) {
        await waitFor(() => pub.rembs.some((b) => b <= 300_000n && b > 250_000n), 5_000, "REMB at ceiling");
      }
      expect(router.forwardedPackets()).toBeGreaterThan(30);

      // Mute: a paused producer forwards nothing.
      const video = router.producers().find((p) => p.kind === "video")!;
      video.pause();
      await new Promise((r) => setTimeout(r, 200));
      const frozen = sub.received.video;
      await new Promise((r) => setTimeout(r, 400));
      expect(sub.received.video).toBe(frozen);
      video.resume();
      await waitFor(() => sub.received.video > frozen + 5, 5_000, "media after unmute");

      // Closing the publisher's transport ends its producers and their consumers.
      await send.close();
      expect(router.producers()).toEqual([]);
      expect(recv.consumers()).toEqual([]);
    }, 40_000);

    it("rejects malformed SDP as a client error", async () => {
      const sfu = await make();
      cleanup.push(() => sfu.close());
      const router = await sfu.createRouter("call-2");
      const send = await router.createSendTransport("alice");
      await expect(send.negotiate("hello")).rejects.toBeInstanceOf(SfuInputError);
      await expect(
        send.negotiate("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"),
      ).rejects.toBeInstanceOf(SfuInputError);
      const recv = await router.createRecvTransport("bob", { maxBitrate: 1_000_000 });
      await expect(recv.applyAnswer("v=0\r\n")).rejects.toBeInstanceOf(SfuInputError);
      await expect(send.addIceCandidate({ candidate: "candidate:x" })).rejects.toBeInstanceOf(SfuInputError);
    });
  });
}
