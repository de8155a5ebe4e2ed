/**
 * The SFU port, shaped after mediasoup's model: one router per call; per participant a send
 * transport (client → SFU, its tracks become producers) and a receive transport (SFU → client,
 * carrying one consumer per other participant's producer).
 *
 * Transport parameters travel as SDP, which is what a browser's RTCPeerConnection speaks: the
 * client offers on its send transport and the SFU answers; the SFU offers on the receive
 * transport and the client answers. Keeping the two directions on two peer connections (as
 * mediasoup-client does) means the client and the SFU never offer at the same time (no glare).
 * Implementations: `sfu/werift.ts` (pure TypeScript, runs everywhere) and `sfu/mediasoup.ts`
 * (needs mediasoup's C++ worker).
 */

export type MediaKind = "audio" | "video";

/** `new` until ICE+DTLS complete, then `connected`; `failed`/`closed` are final. */
export type TransportState = "new" | "connecting" | "connected" | "disconnected" | "failed" | "closed";

/** A trickled ICE candidate, as a browser's `RTCIceCandidate.toJSON()` gives it. */
export type IceCandidate = { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null };

/** Raised for parameters a client got wrong (malformed SDP, unknown mid): a client error, never a 500. */
export class SfuInputError extends Error {
  override name = "SfuInputError";
}

export type SfuOptions = {
  /** The one address ICE binds and announces (loopback in tests); all interfaces when absent. */
  iceAddress?: string;
  /** Upper bound of the bitrate a publisher is asked to send per video track, in bit/s. */
  maxVideoBitrate: number;
};

export interface Sfu {
  readonly name: string;
  createRouter(callId: string): Promise<SfuRouter>;
  close(): Promise<void>;
}

export interface SfuRouter {
  readonly callId: string;
  createSendTransport(participantId: string): Promise<SendTransport>;
  /** `maxBitrate` is this subscriber's ceiling (bit/s) for each video stream it receives. */
  createRecvTransport(participantId: string, opts: { maxBitrate: number }): Promise<RecvTransport>;
  producers(): Producer[];
  /** Packets forwarded to consumers since the router was created (for metrics and the bench). */
  forwardedPackets(): number;
  close(): Promise<void>;
}

export interface Transport {
  readonly id: string;
  readonly participantId: string;
  readonly state: TransportState;
  onStateChange(listener: (state: TransportState) => void): void;
  addIceCandidate(candidate: IceCandidate): Promise<void>;
  close(): Promise<void>;
}

export interface SendTransport extends Transport {
  /**
   * Applies the client's offer and returns the SFU's answer. Each m-section the client sends on
   * becomes a producer (announced through `onProducer`); m-sections it stopped sending end theirs.
   */
  negotiate(offerSdp: string): Promise<string>;
  onProducer(listener: (producer: Producer) => void): void;
  producers(): Producer[];
}

export interface RecvTransport extends Transport {
  /** Starts forwarding a producer to this participant; takes effect with the next offer/answer. */
  consume(producer: Producer): Promise<Consumer>;
  /** The SFU's offer for the current consumers. */
  createOffer(): Promise<string>;
  applyAnswer(answerSdp: string): Promise<void>;
  consumers(): Consumer[];
}

export interface Producer {
  readonly id: string;
  readonly participantId: string;
  readonly kind: MediaKind;
  readonly paused: boolean;
  /** A paused producer forwards nothing (mute). */
  pause(): void;
  resume(): void;
  /** Asks the publisher for a keyframe (RTCP PLI). */
  requestKeyFrame(): void;
  onClose(listener: () => void): void;
  close(): void;
}

export interface Consumer {
  readonly id: string;
  readonly producerId: string;
  readonly kind: MediaKind;
  /** The SDP mid of the m-section carrying it on the receive transport, once offered. */
  readonly mid: string | null;
  close(): void;
}
