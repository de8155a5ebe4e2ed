import { randomUUID } from "node:crypto";
import {
  type MediaStreamTrack,
  ReceiverEstimatedMaxBitrate,
  type RTCPeerConnection,
  type RTCRtpReceiver,
  type RTCRtpSender,
  type RTCRtpTransceiver,
  type RtcpPacket,
  RtcpPayloadSpecificFeedback,
  type RtpPacket,
} from "werift";
import type { Consumer, MediaKind, Producer } from "../sfu.ts";

/** How often a keyframe may be asked for, per layer. */
const PLI_MIN_INTERVAL_MS = 500;

/** What a consumer needs of the receive transport it sends on. */
export type ConsumerTransport = {
  readonly maxBitrate: number;
  readonly pc: RTCPeerConnection;
  /** One packet forwarded (the router's counter, for /metrics). */
  countForwarded(): void;
};

// The werift SFU's media path (calls/sfu/werift.ts holds its router and transports): producers
// copy each RTP packet to their consumers; simulcast layer choice and keyframe requests.

/** Whether an RTP payload starts a VP8 keyframe (RFC 7741 payload descriptor, then the VP8 header). */
export function isVp8Keyframe(payload: Buffer): boolean {
  if (payload.length < 2) return false;
  const b0 = payload[0]!;
  const start = (b0 & 0x10) !== 0;
  const partition = b0 & 0x07;
  if (!start || partition !== 0) return false;
  let i = 1;
  if (b0 & 0x80) {
    const x = payload[i++]!;
    if (x & 0x80) i += (payload[i]! & 0x80) !== 0 ? 2 : 1; // PictureID, 7 or 15 bits
    if (x & 0x40) i += 1; // TL0PICIDX
    if (x & 0x30) i += 1; // TID/KEYIDX
  }
  return i < payload.length && (payload[i]! & 0x01) === 0;
}

export class WeriftProducer implements Producer {
  readonly id = randomUUID();
  readonly consumers = new Set<WeriftConsumer>();
  private closeListeners: (() => void)[] = [];
  private isPaused = false;
  private closed = false;
  private readonly lastPli: number[];
  /** Bytes received per layer since the last `chooseLayers`, and the rates measured then (bit/s). */
  private readonly layerBytes: number[];
  private layerRates: number[];
  /** Each layer's SSRC as seen on the wire (simulcast tracks are found by rid, not SSRC). */
  private readonly layerSsrc: (number | undefined)[];
  private lastMeasure = Date.now();
  packetsReceived = 0;

  constructor(
    readonly participantId: string,
    readonly kind: MediaKind,
    /** One track, or the simulcast layers from lowest to highest. */
    readonly layers: MediaStreamTrack[],
    private readonly receiver: RTCRtpReceiver,
  ) {
    this.lastPli = layers.map(() => 0);
    this.layerBytes = layers.map(() => 0);
    this.layerRates = layers.map(() => 0);
    this.layerSsrc = layers.map((t) => t.ssrc);
    layers.forEach((track, layer) => {
      track.onReceiveRtp.subscribe((rtp) => this.forward(rtp, layer));
    });
  }

  private forward(rtp: RtpPacket, layer: number): void {
    this.packetsReceived++;
    this.layerBytes[layer]! += rtp.payload.length;
    this.layerSsrc[layer] = rtp.header.ssrc;
    if (this.isPaused || this.closed) return;
    for (const c of this.consumers) c.offer(rtp, layer);
  }

  /**
   * Simulcast layer choice, once a second: each consumer moves to the highest layer whose
   * measured bitrate fits its ceiling (or the lowest sending one), switching at that layer's next
   * keyframe, which is asked for at once.
   */
  chooseLayers(): void {
    const now = Date.now();
    const secs = Math.max(0.1, (now - this.lastMeasure) / 1000);
    this.layerRates = this.layerBytes.map((b) => (b * 8) / secs);
    this.layerBytes.fill(0);
    this.lastMeasure = now;
    const sending = this.layerRates.map((r, i) => (r > 0 ? i : -1)).filter((i) => i >= 0);
    if (sending.length === 0) return;
    for (const c of this.consumers) {
      const ceiling = c.ceiling();
      let target = sending[0]!;
      for (const i of sending) if (this.layerRates[i]! <= ceiling) target = i;
      // A consumer still waiting for its layer's first keyframe asks again: the first PLI may
      // have been lost or throttled, and without a keyframe it never forwards anything.
      if (c.wants(target) || c.awaitingKeyframe) this.requestKeyFrame(target);
    }
  }

  /** The layer a consumer starting now should get: the lowest sending one (it fits everyone). */
  initialLayer(): number {
    return 0;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    for (let i = 0; i < this.layers.length; i++) this.requestKeyFrame(i);
  }

  requestKeyFrame(layer?: number): void {
    if (this.kind !== "video" || this.closed) return;
    const which = layer === undefined ? this.layers.map((_, i) => i) : [layer];
    const now = Date.now();
    for (const i of which) {
      const ssrc = this.layerSsrc[i];
      if (ssrc === undefined || now - this.lastPli[i]! < PLI_MIN_INTERVAL_MS) continue;
      this.lastPli[i] = now;
      this.receiver.sendRtcpPLI(ssrc).catch(() => {});
    }
  }

  sendRemb(bitrate: number): void {
    const ssrcs = this.layerSsrc.filter((x): x is number => x !== undefined);
    if (this.closed || ssrcs.length === 0) return;
    let mantissa = Math.max(0, Math.floor(bitrate));
    let exp = 0;
    while (mantissa >= 1 << 18) {
      mantissa >>= 1;
      exp++;
    }
    const remb = new ReceiverEstimatedMaxBitrate({
      senderSsrc: this.receiver.rtcpSsrc,
      mediaSsrc: 0,
      ssrcNum: ssrcs.length,
      brExp: exp,
      brMantissa: mantissa,
      bitrate: BigInt(mantissa) << BigInt(exp),
      ssrcFeedbacks: ssrcs,
    });
    this.receiver.dtlsTransport
      .sendRtcp([new RtcpPayloadSpecificFeedback({ feedback: remb })])
      .catch(() => {});
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.consumers]) c.close();
    const listeners = this.closeListeners;
    this.closeListeners = [];
    for (const l of listeners) l();
  }
}

export class WeriftConsumer implements Consumer {
  readonly id = randomUUID();
  private closed = false;
  private estimate = Number.POSITIVE_INFINITY;
  private readonly sender: RTCRtpSender;
  /** Simulcast: the layer forwarded now (null before the first keyframe) and the one to switch to. */
  private current: number | null;
  private pending: number | null = null;
  /** Sequence number and timestamp rewriting, so switching layers looks like one stream. */
  private seqDelta = 0;
  private tsDelta = 0;
  private lastSeq = -1;
  private lastTs = 0;

  constructor(
    private readonly transport: ConsumerTransport,
    private readonly producer: WeriftProducer,
    private readonly transceiver: RTCRtpTransceiver,
    private readonly onClosed: () => void,
  ) {
    this.sender = transceiver.sender;
    this.sender.onRtcp.subscribe((p) => this.onRtcp(p));
    const simulcast = producer.layers.length > 1;
    this.current = simulcast ? null : 0;
    if (simulcast) this.pending = producer.initialLayer();
  }

  get producerId(): string {
    return this.producer.id;
  }

  get kind(): MediaKind {
    return this.producer.kind;
  }

  get mid(): string | null {
    return this.transceiver.mid;
  }

  /** The simulcast layer this consumer forwards (or waits to forward); 0 without simulcast. */
  get layer(): number {
    return this.pending ?? this.current ?? 0;
  }

  /** This subscriber's ceiling: its configured maximum, or less if its browser estimates less. */
  ceiling(): number {
    return Math.min(this.transport.maxBitrate, this.estimate);
  }

  /** True while a layer switch waits for that layer's next keyframe. */
  get awaitingKeyframe(): boolean {
    return this.pending !== null;
  }

  /** Asks to move to `layer`; true when that is a change (the caller asks for a keyframe). */
  wants(layer: number): boolean {
    if (layer === (this.pending ?? this.current)) return false;
    this.pending = layer === this.current ? null : layer;
    return this.pending !== null;
  }

  /** A packet of the producer's `layer`: forwarded if it is this consumer's layer. */
  offer(rtp: RtpPacket, layer: number): void {
    if (this.closed) return;
    if (this.pending === layer && (this.producer.kind !== "video" || isVp8Keyframe(rtp.payload))) {
      // Switch at a keyframe, continuing the outgoing sequence numbers and timestamps.
      if (this.lastSeq >= 0) {
        this.seqDelta = (this.lastSeq + 1 - rtp.header.sequenceNumber) & 0xffff;
        this.tsDelta = (this.lastTs + 3000 - rtp.header.timestamp) >>> 0;
      }
      this.current = layer;
      this.pending = null;
    }
    if (this.current !== layer) return;
    // The sender rewrites the header in place, so every consumer gets its own copy.
    const copy = rtp.clone();
    copy.header.sequenceNumber = (copy.header.sequenceNumber + this.seqDelta) & 0xffff;
    copy.header.timestamp = (copy.header.timestamp + this.tsDelta) >>> 0;
    this.lastSeq = copy.header.sequenceNumber;
    this.lastTs = copy.header.timestamp;
    this.sender.sendRtp(copy).catch(() => {});
    this.transport.countForwarded();
  }

  requestKeyFrame(): void {
    this.producer.requestKeyFrame(this.layer);
  }

  private onRtcp(packet: RtcpPacket): void {
    if (!(packet instanceof RtcpPayloadSpecificFeedback)) return;
    const fb = packet.feedback;
    if (fb instanceof ReceiverEstimatedMaxBitrate) this.estimate = Number(fb.bitrate);
    else this.producer.requestKeyFrame(this.layer); // PLI or FIR from the subscriber, relayed upstream
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.producer.consumers.delete(this);
    try {
      this.transport.pc.removeTrack(this.sender);
    } catch {
      // the peer connection is already closed
    }
    this.onClosed();
  }
}
