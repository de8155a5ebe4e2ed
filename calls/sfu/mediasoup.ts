import { randomUUID } from "node:crypto";
import type { types as ms } from "mediasoup";
import * as mediasoup from "mediasoup";
import * as sdpTransform from "sdp-transform";
import {
  type Consumer,
  type IceCandidate,
  type MediaKind,
  type Producer,
  type RecvTransport,
  type SendTransport,
  type Sfu,
  SfuInputError,
  type SfuOptions,
  type SfuRouter,
  type TransportState,
} from "../sfu.ts";
import {
  mapDtls,
  mediaSection,
  parseSdp,
  producerRtpParameters,
  remoteDtls,
  sessionSdp,
} from "./mediasoup-sdp.ts";

/**
 * The SFU on mediasoup (the design's named SFU): a C++ worker does the media; this adapter turns
 * the port's SDP offers/answers into mediasoup's parameters (ICE, DTLS, RTP parameters) and back,
 * as mediasoup-client does in a browser. Needs the worker binary (MEDIASOUP_WORKER_BIN); npm
 * cannot build it here, so this file is type-checked everywhere and exercised only where a worker
 * exists. Like the werift SFU it speaks opus and VP8 only.
 */
const MEDIA_CODECS: ms.RouterRtpCodecCapability[] = [
  { kind: "audio", mimeType: "audio/opus", clockRate: 48000, channels: 2, preferredPayloadType: 111 },
  {
    kind: "video",
    mimeType: "video/VP8",
    clockRate: 90000,
    preferredPayloadType: 96,
    rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "goog-remb" }],
  },
];

/** The port's options, and the worker binary (config MEDIASOUP_WORKER_BIN) this SFU needs. */
export type MediasoupSfuOptions = SfuOptions & { workerBin?: string | undefined };

export class MediasoupSfu implements Sfu {
  readonly name = "mediasoup";
  private readonly routers = new Set<MediasoupRouter>();

  private constructor(
    private readonly worker: ms.Worker,
    private readonly options: SfuOptions,
  ) {}

  static async start(options: MediasoupSfuOptions): Promise<MediasoupSfu> {
    if (!options.workerBin) {
      throw new Error("NOVA_SFU=mediasoup needs MEDIASOUP_WORKER_BIN (the mediasoup-worker binary)");
    }
    const worker = await mediasoup.createWorker({ logLevel: "warn" });
    return new MediasoupSfu(worker, options);
  }

  async createRouter(callId: string): Promise<SfuRouter> {
    const router = await this.worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const r = new MediasoupRouter(callId, router, this.options, () => this.routers.delete(r));
    this.routers.add(r);
    return r;
  }

  async close(): Promise<void> {
    await Promise.all([...this.routers].map((r) => r.close()));
    this.worker.close();
  }
}

class MediasoupRouter implements SfuRouter {
  private readonly producerMap = new Map<string, MediasoupProducer>();
  private readonly transports = new Set<MediasoupTransportBase>();
  /** Packets sent by consumers that have closed, and the last sample of the live ones. */
  closedForwarded = 0;
  private liveForwarded = 0;
  private readonly statsTimer: NodeJS.Timeout;

  constructor(
    readonly callId: string,
    readonly router: ms.Router,
    readonly options: SfuOptions,
    private readonly onClosed: () => void,
  ) {
    // The worker counts; the count is fetched every 2 s (mediasoup's stats are asynchronous).
    this.statsTimer = setInterval(() => void this.sampleForwarded(), 2000);
    this.statsTimer.unref();
  }

  private async sampleForwarded(): Promise<void> {
    let total = 0;
    for (const t of this.transports) {
      if (!(t instanceof MediasoupRecvTransport)) continue;
      for (const c of t.consumers() as MediasoupConsumer[]) total += await c.sentPackets();
    }
    this.liveForwarded = total;
  }

  async newWebRtcTransport(): Promise<ms.WebRtcTransport> {
    return this.router.createWebRtcTransport({
      listenInfos: [{ protocol: "udp", ip: this.options.iceAddress ?? "0.0.0.0" }],
      enableUdp: true,
    });
  }

  async createSendTransport(participantId: string): Promise<SendTransport> {
    const t = new MediasoupSendTransport(this, participantId, await this.newWebRtcTransport());
    this.transports.add(t);
    return t;
  }

  async createRecvTransport(participantId: string, opts: { maxBitrate: number }): Promise<RecvTransport> {
    const wt = await this.newWebRtcTransport();
    // mediasoup's own per-subscriber ceiling: its bandwidth estimator never sends above this.
    await wt.setMaxOutgoingBitrate(Math.min(opts.maxBitrate, this.options.maxVideoBitrate) + 64_000);
    const t = new MediasoupRecvTransport(this, participantId, wt);
    this.transports.add(t);
    return t;
  }

  addProducer(p: MediasoupProducer): void {
    this.producerMap.set(p.id, p);
    p.onClose(() => this.producerMap.delete(p.id));
  }

  producers(): Producer[] {
    return [...this.producerMap.values()];
  }

  forwardedPackets(): number {
    return this.closedForwarded + this.liveForwarded;
  }

  forget(t: MediasoupTransportBase): void {
    this.transports.delete(t);
  }

  async close(): Promise<void> {
    clearInterval(this.statsTimer);
    await Promise.all([...this.transports].map((t) => t.close()));
    this.router.close();
    this.onClosed();
  }
}

abstract class MediasoupTransportBase {
  readonly id = randomUUID();
  private current: TransportState = "new";
  private readonly listeners: ((s: TransportState) => void)[] = [];
  protected connected = false;

  constructor(
    readonly router: MediasoupRouter,
    readonly participantId: string,
    readonly transport: ms.WebRtcTransport,
  ) {
    transport.on("dtlsstatechange", (s) => this.setState(mapDtls(s)));
    transport.on("icestatechange", (s) => {
      if (s === "disconnected") this.setState("disconnected");
    });
  }

  get state(): TransportState {
    return this.current;
  }

  private setState(s: TransportState): void {
    if (s === this.current || this.current === "closed") return;
    this.current = s;
    for (const l of this.listeners) l(s);
  }

  onStateChange(listener: (s: TransportState) => void): void {
    this.listeners.push(listener);
  }

  /** mediasoup is ICE-lite: it learns the client's address from its checks, so candidates are only validated. */
  async addIceCandidate(c: IceCandidate): Promise<void> {
    if (c.candidate && c.candidate.split(" ").length < 8) throw new SfuInputError("malformed ICE candidate");
  }

  protected async connectOnce(remote: sdpTransform.SessionDescription): Promise<void> {
    if (this.connected) return;
    await this.transport.connect({ dtlsParameters: remoteDtls(remote) });
    this.connected = true;
  }

  async close(): Promise<void> {
    if (this.current === "closed") return;
    this.onClose();
    this.transport.close();
    this.setState("closed");
    this.router.forget(this);
  }

  protected abstract onClose(): void;
}

class MediasoupSendTransport extends MediasoupTransportBase implements SendTransport {
  private readonly byMid = new Map<string, MediasoupProducer>();
  private readonly producerListeners: ((p: Producer) => void)[] = [];

  onProducer(listener: (p: Producer) => void): void {
    this.producerListeners.push(listener);
  }

  producers(): Producer[] {
    return [...this.byMid.values()];
  }

  async negotiate(offerSdp: string): Promise<string> {
    const offer = parseSdp(offerSdp, "offer");
    await this.connectOnce(offer);
    const answer = sessionSdp(this.transport);
    const mids: string[] = [];
    for (const m of offer.media) {
      const mid = String(m.mid ?? mids.length);
      mids.push(mid);
      const kind = m.type === "audio" || m.type === "video" ? m.type : null;
      const sending = m.direction === "sendonly" || m.direction === "sendrecv";
      const existing = this.byMid.get(mid);
      if (existing && !sending) existing.close();
      if (!kind) throw new SfuInputError(`unsupported m-section type ${m.type}`);
      const cname = m.ssrcs?.find((s) => s.attribute === "cname")?.value as string | undefined;
      const rtp = producerRtpParameters(m, cname);
      if (sending && !existing) {
        let producer: ms.Producer;
        try {
          producer = await this.transport.produce({ kind, rtpParameters: rtp });
        } catch (e) {
          throw new SfuInputError(`cannot produce m-section ${mid}: ${(e as Error).message}`);
        }
        const p = new MediasoupProducer(this.participantId, producer);
        this.byMid.set(mid, p);
        p.onClose(() => this.byMid.delete(mid));
        this.router.addProducer(p);
        for (const l of this.producerListeners) l(p);
      }
      const section = mediaSection(
        this.transport,
        kind,
        mid,
        rtp,
        sending ? "recvonly" : "inactive",
        "passive",
      );
      const rids = (rtp.encodings ?? []).map((e) => e.rid).filter((r): r is string => r !== undefined);
      if (rids.length > 0) {
        section.rids = rids.map((id) => ({ id, direction: "recv" }));
        section.simulcast = { dir1: "recv", list1: rids.join(";") };
      }
      answer.media.push(section);
    }
    answer.groups = [{ type: "BUNDLE", mids: mids.join(" ") }];
    return sdpTransform.write(answer);
  }

  protected onClose(): void {
    for (const p of [...this.byMid.values()]) p.close();
  }
}

class MediasoupRecvTransport extends MediasoupTransportBase implements RecvTransport {
  private readonly consumerList: MediasoupConsumer[] = [];

  async consume(producer: Producer): Promise<Consumer> {
    if (!(producer instanceof MediasoupProducer)) throw new Error("producer of another SFU");
    // The browser's capabilities are the router's (opus, VP8), which every supported browser has.
    const consumer = await this.transport.consume({
      producerId: producer.id,
      rtpCapabilities: this.router.router.rtpCapabilities,
    });
    const c = new MediasoupConsumer(producer, consumer, String(this.consumerList.length), (sent) => {
      this.router.closedForwarded += sent;
      const i = this.consumerList.indexOf(c);
      if (i >= 0) this.consumerList.splice(i, 1);
    });
    this.consumerList.push(c);
    producer.consumers.add(c);
    return c;
  }

  consumers(): Consumer[] {
    return [...this.consumerList];
  }

  async createOffer(): Promise<string> {
    const offer = sessionSdp(this.transport);
    for (const c of this.consumerList) {
      offer.media.push(
        mediaSection(this.transport, c.kind, c.mid, c.consumer.rtpParameters, "sendonly", "actpass"),
      );
    }
    offer.groups = [{ type: "BUNDLE", mids: this.consumerList.map((c) => c.mid).join(" ") }];
    return sdpTransform.write(offer);
  }

  async applyAnswer(answerSdp: string): Promise<void> {
    const answer = parseSdp(answerSdp, "answer");
    await this.connectOnce(answer);
    for (const c of this.consumerList) await c.consumer.requestKeyFrame();
  }

  protected onClose(): void {
    for (const c of [...this.consumerList]) c.close();
  }
}

class MediasoupProducer implements Producer {
  readonly consumers = new Set<MediasoupConsumer>();
  private listeners: (() => void)[] = [];

  constructor(
    readonly participantId: string,
    readonly producer: ms.Producer,
  ) {}

  get id(): string {
    return this.producer.id;
  }

  get kind(): MediaKind {
    return this.producer.kind;
  }

  get paused(): boolean {
    return this.producer.paused;
  }

  pause(): void {
    void this.producer.pause();
  }

  resume(): void {
    void this.producer.resume();
  }

  /** mediasoup relays PLI from consumers itself; this asks on behalf of every consumer. */
  requestKeyFrame(): void {
    for (const c of this.consumers) void c.consumer.requestKeyFrame();
  }

  onClose(listener: () => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    if (this.producer.closed) return;
    this.producer.close();
    for (const c of [...this.consumers]) c.close();
    const ls = this.listeners;
    this.listeners = [];
    for (const l of ls) l();
  }
}

class MediasoupConsumer implements Consumer {
  constructor(
    private readonly producer: MediasoupProducer,
    readonly consumer: ms.Consumer,
    readonly mid: string,
    private readonly onClosed: (sentPackets: number) => void,
  ) {}

  private lastSent = 0;

  async sentPackets(): Promise<number> {
    if (this.consumer.closed) return this.lastSent;
    const stats = await this.consumer.getStats();
    this.lastSent = stats.filter((s) => s.type === "outbound-rtp").reduce((n, s) => n + s.packetCount, 0);
    return this.lastSent;
  }

  get id(): string {
    return this.consumer.id;
  }

  get producerId(): string {
    return this.producer.id;
  }

  get kind(): MediaKind {
    return this.consumer.kind;
  }

  close(): void {
    if (!this.consumer.closed) this.consumer.close();
    this.producer.consumers.delete(this);
    this.onClosed(this.lastSent);
  }
}
