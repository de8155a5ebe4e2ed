import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RtcpPacket,
  RtcpPayloadSpecificFeedback,
  RtpHeader,
  RtpPacket,
  useNACK,
  usePLI,
  useREMB,
  useSdesMid,
} from "werift";

/** A werift peer bound to loopback, speaking the codecs Nova's SFU offers. */
export function loopbackPeer(): RTCPeerConnection {
  return new RTCPeerConnection({
    codecs: {
      audio: [
        new RTCRtpCodecParameters({
          mimeType: "audio/opus",
          clockRate: 48000,
          channels: 2,
          payloadType: 111,
        }),
      ],
      video: [
        new RTCRtpCodecParameters({
          mimeType: "video/VP8",
          clockRate: 90000,
          payloadType: 96,
          rtcpFeedback: [useNACK(), usePLI(), useREMB()],
        }),
      ],
    },
    headerExtensions: { audio: [useSdesMid()], video: [useSdesMid()] },
    iceUseIpv6: false,
    iceInterfaceAddresses: { udp4: "127.0.0.1" },
    iceAdditionalHostAddresses: ["127.0.0.1"],
  });
}

/** Drops non-loopback candidates, as a loopback-only test must. */
export function loopbackOnly(sdp: string): string {
  return sdp
    .split("\r\n")
    .filter((l) => !l.startsWith("a=candidate:") || l.split(" ")[4]?.startsWith("127."))
    .join("\r\n");
}

/**
 * A synthetic publisher: one video (and optionally audio) track fed with RTP packets of a fixed
 * size at a fixed rate. The payloads are not decodable media; the SFU forwards RTP without decoding.
 */
export class SyntheticPublisher {
  readonly pc = loopbackPeer();
  readonly video = new MediaStreamTrack({ kind: "video" });
  readonly audio = new MediaStreamTrack({ kind: "audio" });
  /** RTCP feedback the publisher got from the SFU (PLI, REMB). */
  readonly plis: number[] = [];
  readonly rembs: bigint[] = [];
  private timers: NodeJS.Timeout[] = [];
  private seq = { video: 0, audio: 0 };
  private ts = { video: 0, audio: 0 };

  constructor(withAudio = true) {
    const v = this.pc.addTransceiver(this.video, { direction: "sendonly" });
    v.sender.onRtcp.subscribe((p) => this.onRtcp(p));
    if (withAudio) this.pc.addTransceiver(this.audio, { direction: "sendonly" });
  }

  private onRtcp(p: RtcpPacket): void {
    if (!(p instanceof RtcpPayloadSpecificFeedback)) return;
    if ("bitrate" in p.feedback) this.rembs.push(p.feedback.bitrate);
    else this.plis.push(Date.now());
  }

  async offer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return loopbackOnly(this.pc.localDescription!.sdp);
  }

  async answer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: "answer", sdp });
  }

  /** Sends `pps` video packets of `size` bytes per second (and 50 audio packets/s of 120 bytes). */
  start(pps = 100, size = 1100): void {
    const videoPayload = Buffer.alloc(size, 0x5a);
    const audioPayload = Buffer.alloc(120, 0x11);
    const every = Math.max(1, Math.round(1000 / pps));
    const perTick = Math.max(1, Math.round(pps / (1000 / every)));
    this.timers.push(
      setInterval(() => {
        for (let i = 0; i < perTick; i++) this.write("video", videoPayload, 96, 90000 / 30);
      }, every),
      setInterval(() => this.write("audio", audioPayload, 111, 960), 20),
    );
  }

  /** Packets written so far, per kind. */
  readonly sent = { video: 0, audio: 0 };

  private write(kind: "video" | "audio", payload: Buffer, payloadType: number, tsStep: number): void {
    this.sent[kind]++;
    this.seq[kind] = (this.seq[kind] + 1) & 0xffff;
    this.ts[kind] = (this.ts[kind] + tsStep) >>> 0;
    const header = new RtpHeader({
      payloadType,
      sequenceNumber: this.seq[kind],
      timestamp: this.ts[kind],
      marker: true,
    });
    (kind === "video" ? this.video : this.audio).writeRtp(new RtpPacket(header, payload));
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.pc.close();
  }
}

/** A subscriber that answers the SFU's offers and counts what it receives per kind. */
export class CountingSubscriber {
  readonly pc = loopbackPeer();
  readonly received = { video: 0, audio: 0 };
  readonly bytes = { video: 0, audio: 0 };
  /** Highest sequence number gap seen, to estimate loss. */
  readonly expected = { video: 0, audio: 0 };
  private last = new Map<number, number>();

  constructor() {
    this.pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        const kind = track.kind as "video" | "audio";
        this.received[kind]++;
        this.bytes[kind] += rtp.payload.length;
        const prev = this.last.get(rtp.header.ssrc);
        const gap = prev === undefined ? 1 : (rtp.header.sequenceNumber - prev + 0x10000) & 0xffff;
        if (gap > 0 && gap < 1000) this.expected[kind] += gap;
        this.last.set(rtp.header.ssrc, rtp.header.sequenceNumber);
      });
    });
  }

  async answer(offerSdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: "offer", sdp: offerSdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    return loopbackOnly(this.pc.localDescription!.sdp);
  }

  async close(): Promise<void> {
    await this.pc.close();
  }
}

export async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
