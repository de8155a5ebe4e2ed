/**
 * Client for Nova's group-call signaling (docs/calls.md), for browsers and Node. It only speaks
 * signaling; the caller owns its RTCPeerConnections (one to send, one to receive). Requests go
 * over any `CallRequester`: plain HTTP (`httpRequester`) or the sync WebSocket's request frames
 * (`NovaSyncClient` from sync/client is one as it is).
 */

export const CALLS_PREFIX = "/_matrix/client/unstable/org.nova.calls";

export type CallRequester = {
  request(method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
};

export type MediaKind = "audio" | "video";
export type ParticipantInfo = {
  user_id: string;
  device_id: string;
  muted: { audio: boolean; video: boolean };
};
export type StreamInfo = { mid: string; kind: MediaKind; user_id: string; device_id: string };
export type CallEvent = { seq: number } & (
  | { type: "participant_joined"; user_id: string; device_id: string }
  | { type: "participant_left"; user_id: string; device_id: string; reason: string }
  | { type: "renegotiate" }
  | { type: "mute"; user_id: string; device_id: string; kind: MediaKind; muted: boolean }
  | { type: "removed"; reason: string }
);
export type IceCandidateJson = { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null };

export class CallError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
  ) {
    super(`${status} ${errcode}: ${message}`);
  }
}

/** Requests over HTTP with an access token. */
export function httpRequester(baseUrl: string, accessToken: string): CallRequester {
  return {
    async request(method, path, body) {
      const res = await fetch(baseUrl + path, {
        method,
        headers: {
          Authorization: `Bearer ${accessToken}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {} };
    },
  };
}

const e = encodeURIComponent;

export class CallClient {
  callId: string | null = null;
  private since = 0;
  private polling = false;

  constructor(
    private readonly transport: CallRequester,
    /** Long-poll timeout; keep it below the transport's own request timeout. */
    private readonly pollTimeoutMs = 20_000,
  ) {}

  private async call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const r = await this.transport.request(method, path, body);
    if (r.status < 200 || r.status >= 300) {
      const b = (r.body ?? {}) as { errcode?: string; error?: string };
      throw new CallError(r.status, b.errcode ?? "M_UNKNOWN", b.error ?? "request failed");
    }
    return r.body as T;
  }

  private path(action: string): string {
    if (!this.callId) throw new Error("join a call first");
    return `${CALLS_PREFIX}/calls/${e(this.callId)}/${action}`;
  }

  /** Joins the room's call (starting it if there is none). */
  async join(
    roomId: string,
    opts: { maxBitrate?: number } = {},
  ): Promise<{ participants: ParticipantInfo[] }> {
    const r = await this.call<{ call_id: string; participants: ParticipantInfo[] }>(
      "POST",
      `${CALLS_PREFIX}/rooms/${e(roomId)}/join`,
      opts.maxBitrate ? { max_bitrate: opts.maxBitrate } : {},
    );
    this.callId = r.call_id;
    this.since = 0;
    return { participants: r.participants };
  }

  /** Sends the offer of the sending peer connection; returns the SFU's answer. */
  async publish(offerSdp: string): Promise<string> {
    return (await this.call<{ sdp: string }>("POST", this.path("publish"), { sdp: offerSdp })).sdp;
  }

  /**
   * Asks for the SFU's offer for the receiving peer connection (all other participants' streams);
   * `sdp` is null while there is nothing to receive.
   */
  async subscribe(): Promise<{ sdp: string | null; streams: StreamInfo[] }> {
    return this.call("POST", this.path("subscribe"), {});
  }

  async answer(answerSdp: string): Promise<void> {
    await this.call("POST", this.path("answer"), { sdp: answerSdp });
  }

  async ice(transport: "send" | "recv", candidate: IceCandidateJson): Promise<void> {
    await this.call("POST", this.path("ice"), { transport, candidate });
  }

  async mute(kind: MediaKind, muted: boolean): Promise<void> {
    await this.call("POST", this.path("mute"), { kind, muted });
  }

  async leave(): Promise<void> {
    this.polling = false;
    await this.call("POST", this.path("leave"), {});
    this.callId = null;
  }

  /** One long-poll for events after the last seen one. */
  async poll(timeoutMs = this.pollTimeoutMs): Promise<CallEvent[]> {
    const r = await this.call<{ events: CallEvent[]; next: number }>(
      "GET",
      `${this.path("events")}?since=${this.since}&timeout=${timeoutMs}`,
    );
    this.since = r.next;
    return r.events;
  }

  /**
   * Polls events until `stop()` (or until removed from the call), handing each to `onEvent`. The
   * open poll is what tells the server this participant is still there.
   */
  async run(onEvent: (ev: CallEvent) => void | Promise<void>): Promise<void> {
    this.polling = true;
    while (this.polling && this.callId) {
      let events: CallEvent[];
      try {
        events = await this.poll();
      } catch (err) {
        if (err instanceof CallError && (err.status === 403 || err.status === 404)) break;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      for (const ev of events) {
        await onEvent(ev);
        if (ev.type === "removed") this.polling = false;
      }
    }
    this.polling = false;
  }

  stop(): void {
    this.polling = false;
  }
}
