import uWS from "uWebSockets.js";
import { Counter, Gauge } from "prom-client";
import { registry } from "../../companion-services/platform/metrics.ts";
import { Connection, type ConnectionDeps } from "./connection.ts";
import {
  CloseCode,
  Limits,
  offersSubprotocol,
  SUBPROTOCOL,
  tokenFromSubprotocols,
  WS_PATH,
} from "./protocol.ts";

type SocketData = { ip: string; token: string | null; conn: Connection | null };

const socketsGauge = new Gauge({
  name: "nova_ws_sockets",
  help: "Open WebSocket sync sockets",
  registers: [registry],
});
const deltasCounter = new Counter({
  name: "nova_ws_deltas_total",
  help: "Sync deltas pushed over WebSocket",
  registers: [registry],
});
const closesCounter = new Counter({
  name: "nova_ws_closes_total",
  help: "WebSocket sync sockets closed, by close code",
  labelNames: ["code"] as const,
  registers: [registry],
});

export type TransportOptions = {
  /** permessage-deflate (uWS shared compressor: no per-socket memory). */
  deflate: boolean;
  isDraining(): boolean;
};

/**
 * The WebSocket endpoint on the homeserver's uWS app. Owns the set of open connections; each
 * connection does its own auth, subscription and requests (connection.ts).
 */
export class SyncSocketTransport {
  private readonly connections = new Set<Connection>();
  private readonly byDevice = new Map<string, Set<Connection>>();
  private stopping = false;
  private readonly allClosedWaiters = new Set<() => void>();

  /** One deps object shared by every connection (not a copy per socket). */
  private readonly connectionDeps: ConnectionDeps;

  constructor(
    deps: Omit<ConnectionDeps, "onAuthenticated">,
    private readonly opts: TransportOptions,
  ) {
    this.connectionDeps = {
      ...deps,
      onAuthenticated: (c) => this.index(c),
      onDelta: (c, r) => {
        deltasCounter.inc();
        deps.onDelta?.(c, r);
      },
    };
  }

  attach(app: uWS.TemplatedApp, path = WS_PATH): void {
    app.ws<SocketData>(path, {
      maxPayloadLength: Limits.hardFrameBytes,
      idleTimeout: Limits.idleTimeoutSeconds,
      sendPingsAutomatically: true,
      maxBackpressure: Limits.maxBufferedBytes,
      closeOnBackpressureLimit: 0,
      compression: this.opts.deflate ? uWS.SHARED_COMPRESSOR : uWS.DISABLED,
      upgrade: (res, req, context) => {
        const key = req.getHeader("sec-websocket-key");
        const protocols = req.getHeader("sec-websocket-protocol");
        const extensions = req.getHeader("sec-websocket-extensions");
        const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
        if (this.stopping || this.opts.isDraining()) {
          res.writeStatus("503 Service Unavailable").end("shutting down");
          return;
        }
        if (protocols && !offersSubprotocol(protocols)) {
          res.writeStatus("400 Bad Request").end(`subprotocol ${SUBPROTOCOL} required`);
          return;
        }
        const data: SocketData = {
          ip,
          token: protocols ? tokenFromSubprotocols(protocols) : null,
          conn: null,
        };
        // Only the protocol name is echoed: the token never comes back in a response header.
        res.upgrade(data, key, protocols ? SUBPROTOCOL : "", extensions, context);
      },
      open: (ws) => {
        const data = ws.getUserData();
        const socket = new UwsSocket(ws, this.opts.deflate);
        const conn = new Connection(socket, this.connectionDeps, data.ip, data.token);
        data.token = null;
        data.conn = conn;
        this.connections.add(conn);
        socketsGauge.inc();
      },
      message: (ws, message, isBinary) => {
        const conn = ws.getUserData().conn;
        if (!conn) return;
        if (message.byteLength > Limits.maxFrameBytes) {
          conn.send({
            type: "error",
            errcode: "M_TOO_LARGE",
            error: `Frame over ${Limits.maxFrameBytes} bytes`,
          });
          conn.close(CloseCode.tooBig, "frame too large");
          return;
        }
        conn.onMessage(isBinary ? null : Buffer.from(message).toString("utf8"));
      },
      drain: (ws) => ws.getUserData().conn?.onDrain(),
      close: (ws, code) => {
        const conn = ws.getUserData().conn;
        closesCounter.inc({ code: String(code) });
        if (!conn) return;
        conn.onClosed();
        this.connections.delete(conn);
        socketsGauge.dec();
        if (conn.auth) {
          const k = deviceKey(conn.auth.userId, conn.auth.deviceId);
          const set = this.byDevice.get(k);
          set?.delete(conn);
          if (set?.size === 0) this.byDevice.delete(k);
        }
        if (this.connections.size === 0) for (const w of this.allClosedWaiters) w();
      },
    });
  }

  size(): number {
    return this.connections.size;
  }

  /** A device was logged out or deleted: its sockets go, with a code telling it not to retry. */
  closeDevice(userId: string, deviceId: string): void {
    for (const c of this.byDevice.get(deviceKey(userId, deviceId)) ?? []) {
      c.send({ type: "error", errcode: "M_UNKNOWN_TOKEN", error: "Device logged out" });
      c.close(CloseCode.unknownToken, "device logged out");
    }
  }

  /**
   * Graceful shutdown: refuse new sockets, push each subscribed socket what has committed, tell
   * every client to reconnect (1012), and wait (bounded) for the sockets to go.
   */
  async shutdown(timeoutMs = 3_000): Promise<void> {
    this.stopping = true;
    if (this.connections.size === 0) return;
    const allClosed = new Promise<void>((r) => this.allClosedWaiters.add(r));
    // Each subscribed socket first gets what has committed, then 1012.
    for (const c of [...this.connections]) c.finish(CloseCode.serviceRestart, "server restarting: reconnect");
    await Promise.race([allClosed, new Promise((r) => setTimeout(r, timeoutMs))]);
    for (const c of [...this.connections]) c.close(CloseCode.serviceRestart, "server restarting: reconnect");
  }

  private index(c: Connection): void {
    const k = deviceKey(c.auth!.userId, c.auth!.deviceId);
    let set = this.byDevice.get(k);
    if (!set) {
      set = new Set();
      this.byDevice.set(k, set);
    }
    set.add(c);
  }
}

/** The connection's view of a uWS socket (methods on the prototype: no closures per socket). */
class UwsSocket {
  constructor(
    private readonly ws: uWS.WebSocket<SocketData>,
    private readonly deflate: boolean,
  ) {}
  send(text: string): number {
    return this.ws.send(text, false, this.deflate);
  }
  getBufferedAmount(): number {
    return this.ws.getBufferedAmount();
  }
  end(code: number, reason: string): void {
    this.ws.end(code, reason);
  }
}

function deviceKey(userId: string, deviceId: string): string {
  return `${userId}|${deviceId}`;
}
