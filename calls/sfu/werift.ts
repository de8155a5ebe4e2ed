import { randomUUID } from "node:crypto";
import {
  MediaStreamTrack,
  type PeerConfig,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  useNACK,
  usePLI,
  useREMB,
  useSdesMid,
  useSdesRTPStreamId,
} from "werift";
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
import { type ConsumerTransport, WeriftConsumer, WeriftProducer } from "./werift-media.ts";

/** How often publishers are told the bitrate ceiling (REMB). */
const REMB_INTERVAL_MS = 1000;

/**
 * The SFU on werift (pure TypeScript WebRTC): each transport is a werift RTCPeerConnection;
 * forwarding copies each RTP packet of a producer to the sender of every consumer, which rewrites
 * SSRC, payload type and sequence numbers for its own stream.
 */
export class WeriftSfu implements Sfu {
  readonly name = "werift";
  private readonly routers = new Set<WeriftRouter>();

  constructor(private readonly options: SfuOptions) {}

  async createRouter(callId: string): Promise<SfuRouter> {
    const router = new WeriftRouter(callId, this.options, () => this.routers.delete(router));
    this.routers.add(router);
    return router;
  }

  async close(): Promise<void> {
    await Promise.all([...this.routers].map((r) => r.close()));
  }
}

/** Only opus and VP8 are offered so that every subscriber can take every publisher's stream as is. */
function peerConfig(options: SfuOptions): Partial<PeerConfig> {
  return {
    codecs: {
      audio: [
        new RTCRtpCodecParameters({
          mimeType: "audio/opus",
          clockRate: 48000,
          channels: 2,
          payloadType: 111,
          parameters: "minptime=10;useinbandfec=1",
        }),
      ],
      video: [
        new RTCRtpCodecParameters({
          mimeType: "video/VP8",
          clockRate: 90000,
          payloadType: 96,
          // Chrome otherwise starts at 300 kbit/s and climbs slowly, too low for a simulcast high layer.
          parameters: "x-google-start-bitrate=800",
          // goog-remb without transport-cc: publishers then take the SFU's REMB as their ceiling.
          rtcpFeedback: [useNACK(), usePLI(), useREMB()],
        }),
      ],
    },
    // rtp-stream-id lets a publisher send simulcast (one RTP stream per `rid` layer).
    headerExtensions: { audio: [useSdesMid()], video: [useSdesMid(), useSdesRTPStreamId()] },
    // One ICE+DTLS transport per peer connection, however many streams it carries.
    bundlePolicy: "max-bundle",
    iceUseIpv6: false,
    ...(options.iceAddress
      ? {
          iceInterfaceAddresses: { udp4: options.iceAddress },
          iceAdditionalHostAddresses: [options.iceAddress],
        }
      : {}),
  };
}

const isLoopback = (addr: string) => addr.startsWith("127.") || addr === "::1";

/** The address of an `a=candidate` line / candidate string (5th field). */
function candidateAddress(candidate: string): string | undefined {
  return candidate.replace(/^a=/, "").split(" ")[4];
}

/**
 * Keeps only the candidates on the configured ICE address: werift also gathers the machine's
 * other interfaces, which a loopback-bound deployment (tests) must not announce.
 */
function keepCandidates(sdp: string, options: SfuOptions): string {
  const only = options.iceAddress;
  if (!only) return sdp;
  return sdp
    .split("\r\n")
    .filter((line) => !line.startsWith("a=candidate:") || candidateAddress(line) === only)
    .join("\r\n");
}

/** Rejects what is plainly not an SDP before werift sees it (it accepts some garbage silently). */
function checkSdp(sdp: string, type: "offer" | "answer"): void {
  if (!/^v=0\r?\n/.test(sdp)) throw new SfuInputError(`${type} is not an SDP (must start with v=0)`);
  if (!/\r?\nm=(audio|video) /.test(sdp)) throw new SfuInputError(`${type} has no audio or video m-section`);
  if (!/a=fingerprint:/.test(sdp)) throw new SfuInputError(`${type} has no DTLS fingerprint`);
  if (!/a=ice-ufrag:/.test(sdp) || !/a=ice-pwd:/.test(sdp))
    throw new SfuInputError(`${type} has no ICE credentials`);
}

function mapState(s: RTCPeerConnection["connectionState"]): TransportState {
  return s;
}

class WeriftRouter implements SfuRouter {
  private readonly producerMap = new Map<string, WeriftProducer>();
  private readonly transports = new Set<WeriftTransportBase>();
  private readonly rembTimer: NodeJS.Timeout;
  forwarded = 0;

  constructor(
    readonly callId: string,
    readonly options: SfuOptions,
    private readonly onClosed: () => void,
  ) {
    this.rembTimer = setInterval(() => this.sendRembs(), REMB_INTERVAL_MS);
    this.rembTimer.unref();
  }

  async createSendTransport(participantId: string): Promise<SendTransport> {
    const t = new WeriftSendTransport(this, participantId);
    this.transports.add(t);
    t.onStateChange((s) => s === "closed" && this.transports.delete(t));
    return t;
  }

  async createRecvTransport(participantId: string, opts: { maxBitrate: number }): Promise<RecvTransport> {
    const t = new WeriftRecvTransport(this, participantId, opts.maxBitrate);
    this.transports.add(t);
    t.onStateChange((s) => s === "closed" && this.transports.delete(t));
    return t;
  }

  addProducer(p: WeriftProducer): void {
    this.producerMap.set(p.id, p);
    p.onClose(() => this.producerMap.delete(p.id));
  }

  producers(): Producer[] {
    return [...this.producerMap.values()];
  }

  forwardedPackets(): number {
    return this.forwarded;
  }

  /**
   * The bandwidth ceiling per subscriber: without simulcast one stream serves every subscriber,
   * so each video publisher is asked (REMB) for the lowest of its subscribers' ceilings and of
   * the estimates their browsers report, capped by the SFU's own maximum.
   */
  private sendRembs(): void {
    for (const p of this.producerMap.values()) {
      if (p.kind !== "video") continue;
      if (p.layers.length > 1) {
        // Simulcast: the publisher sends every layer; each subscriber gets the best that fits.
        p.sendRemb(this.options.maxVideoBitrate);
        p.chooseLayers();
        continue;
      }
      let ceiling = this.options.maxVideoBitrate;
      for (const c of p.consumers) ceiling = Math.min(ceiling, c.ceiling());
      p.sendRemb(ceiling);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.rembTimer);
    await Promise.all([...this.transports].map((t) => t.close()));
    this.onClosed();
  }
}

abstract class WeriftTransportBase {
  readonly id = randomUUID();
  readonly pc: RTCPeerConnection;
  private readonly stateListeners: ((s: TransportState) => void)[] = [];
  private current: TransportState = "new";

  constructor(
    readonly router: WeriftRouter,
    readonly participantId: string,
  ) {
    this.pc = new RTCPeerConnection(peerConfig(router.options));
    this.pc.connectionStateChange.subscribe((s) => this.setState(mapState(s)));
  }

  get state(): TransportState {
    return this.current;
  }

  protected setState(s: TransportState): void {
    if (this.current === s || this.current === "closed") return;
    this.current = s;
    for (const l of this.stateListeners) l(s);
  }

  onStateChange(listener: (state: TransportState) => void): void {
    this.stateListeners.push(listener);
  }

  async addIceCandidate(c: IceCandidate): Promise<void> {
    if (!c.candidate) return; // end-of-candidates
    const addr = candidateAddress(c.candidate);
    if (!addr) throw new SfuInputError("malformed ICE candidate");
    const only = this.router.options.iceAddress;
    // A loopback-bound SFU cannot reach other addresses; don't even try.
    if (only && isLoopback(only) && !isLoopback(addr)) return;
    try {
      await this.pc.addIceCandidate({
        candidate: c.candidate,
        sdpMid: c.sdpMid ?? undefined,
        sdpMLineIndex: c.sdpMLineIndex ?? undefined,
      });
    } catch (e) {
      throw new SfuInputError(`ICE candidate rejected: ${(e as Error).message}`);
    }
  }

  /** Remote candidates the SFU cannot reach are dropped from an SDP too (see addIceCandidate). */
  protected filterRemote(sdp: string): string {
    const only = this.router.options.iceAddress;
    if (!only || !isLoopback(only)) return sdp;
    return sdp
      .split(/\r?\n/)
      .filter((line) => {
        if (!line.startsWith("a=candidate:")) return true;
        const a = candidateAddress(line);
        return a !== undefined && isLoopback(a);
      })
      .join("\r\n");
  }

  protected async localSdp(): Promise<string> {
    const sdp = this.pc.localDescription?.sdp;
    if (!sdp) throw new Error("no local description");
    return keepCandidates(sdp, this.router.options);
  }

  async close(): Promise<void> {
    if (this.current === "closed") return;
    this.onClose();
    this.setState("closed");
    await this.pc.close();
  }

  protected abstract onClose(): void;
}

class WeriftSendTransport extends WeriftTransportBase implements SendTransport {
  private readonly producerByMid = new Map<string, WeriftProducer>();
  private readonly producerListeners: ((p: Producer) => void)[] = [];

  constructor(router: WeriftRouter, participantId: string) {
    super(router, participantId);
    this.pc.onTrack.subscribe((track) => {
      const transceiver = this.pc.getTransceivers().find((t) => t.receiver.tracks.includes(track));
      if (!transceiver) return;
      const mid = transceiver.mid ?? randomUUID();
      if (this.producerByMid.has(mid)) return;
      // Simulcast: one track per rid, in the offer's order (clients list them low to high).
      const byRid = Object.values(transceiver.receiver.trackByRID);
      const producer = new WeriftProducer(
        participantId,
        track.kind as MediaKind,
        byRid.length > 0 ? byRid : [track],
        transceiver.receiver,
      );
      this.producerByMid.set(mid, producer);
      producer.onClose(() => this.producerByMid.delete(mid));
      this.router.addProducer(producer);
      for (const l of this.producerListeners) l(producer);
    });
  }

  onProducer(listener: (p: Producer) => void): void {
    this.producerListeners.push(listener);
  }

  producers(): Producer[] {
    return [...this.producerByMid.values()];
  }

  async negotiate(offerSdp: string): Promise<string> {
    checkSdp(offerSdp, "offer");
    if (this.state === "closed") throw new SfuInputError("transport is closed");
    try {
      await this.pc.setRemoteDescription({ type: "offer", sdp: this.filterRemote(offerSdp) });
    } catch (e) {
      throw new SfuInputError(`offer rejected: ${(e as Error).message}`);
    }
    // m-sections the client no longer sends on end their producers (e.g. camera turned off).
    for (const t of this.pc.getTransceivers()) {
      const producer = t.mid ? this.producerByMid.get(t.mid) : undefined;
      if (producer && !(t.direction === "recvonly" || t.direction === "sendrecv")) producer.close();
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    return this.localSdp();
  }

  protected onClose(): void {
    for (const p of this.producerByMid.values()) p.close();
  }
}

class WeriftRecvTransport extends WeriftTransportBase implements RecvTransport, ConsumerTransport {
  private readonly consumerSet = new Set<WeriftConsumer>();

  constructor(
    router: WeriftRouter,
    participantId: string,
    readonly maxBitrate: number,
  ) {
    super(router, participantId);
    // A subscriber that has just connected needs a keyframe before it can show anything.
    this.onStateChange((s) => {
      if (s === "connected") for (const c of this.consumerSet) c.requestKeyFrame();
    });
  }

  countForwarded(): void {
    this.router.forwarded++;
  }

  async consume(producer: Producer): Promise<Consumer> {
    if (!(producer instanceof WeriftProducer)) throw new Error("producer of another SFU");
    if (this.state === "closed") throw new SfuInputError("transport is closed");
    const track = new MediaStreamTrack({ kind: producer.kind });
    const transceiver = this.pc.addTransceiver(track, { direction: "sendonly" });
    const consumer = new WeriftConsumer(this, producer, transceiver, () => this.consumerSet.delete(consumer));
    this.consumerSet.add(consumer);
    producer.consumers.add(consumer);
    return consumer;
  }

  consumers(): Consumer[] {
    return [...this.consumerSet];
  }

  async createOffer(): Promise<string> {
    if (this.state === "closed") throw new SfuInputError("transport is closed");
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    return this.localSdp();
  }

  async applyAnswer(answerSdp: string): Promise<void> {
    checkSdp(answerSdp, "answer");
    if (this.pc.signalingState !== "have-local-offer") throw new SfuInputError("no offer is pending");
    try {
      await this.pc.setRemoteDescription({ type: "answer", sdp: this.filterRemote(answerSdp) });
    } catch (e) {
      throw new SfuInputError(`answer rejected: ${(e as Error).message}`);
    }
    if (this.state === "connected") for (const c of this.consumerSet) c.requestKeyFrame();
  }

  protected onClose(): void {
    for (const c of [...this.consumerSet]) c.close();
  }
}
