import { randomBytes } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import type { Mail, Mailer } from "../mailer.ts";

export type SmtpOptions = {
  /** smtp://[user:pass@]host[:port] (STARTTLS when offered) or smtps://… (TLS from the start). */
  url: string;
  /** The From header, e.g. `Nova <nova@example.org>`; its address is the envelope sender. */
  from: string;
  /** The name given in EHLO. */
  heloName: string;
  timeoutMs?: number;
};

type Reply = { code: number; lines: string[] };

/**
 * A small RFC 5321 client: one connection per mail (validation mails are rare), EHLO, STARTTLS
 * when the server offers it on smtp://, AUTH PLAIN with the URL's credentials, one recipient.
 * Written here because nodemailer is not among Nova's dependencies; it sends only what the
 * 3PID endpoints need.
 */
export class SmtpMailer implements Mailer {
  private readonly url: URL;
  private readonly timeoutMs: number;

  constructor(private readonly opts: SmtpOptions) {
    this.url = new URL(opts.url);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  async send(mail: Mail): Promise<void> {
    const secure = this.url.protocol === "smtps:";
    const host = this.url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(this.url.port) || (secure ? 465 : 25);
    let conn = SmtpConnection.over(
      secure ? tls.connect({ host, port, servername: host }) : net.connect({ host, port }),
      this.timeoutMs,
    );
    try {
      await conn.expect(220);
      let ehlo = await conn.command(`EHLO ${this.opts.heloName}`, 250);
      if (!secure && offers(ehlo, "STARTTLS")) {
        await conn.command("STARTTLS", 220);
        conn = SmtpConnection.over(conn.upgrade(host), this.timeoutMs);
        ehlo = await conn.command(`EHLO ${this.opts.heloName}`, 250);
      }
      if (this.url.username) {
        const user = decodeURIComponent(this.url.username);
        const pass = decodeURIComponent(this.url.password);
        const plain = Buffer.from(`\0${user}\0${pass}`).toString("base64");
        await conn.command(`AUTH PLAIN ${plain}`, 235);
      }
      await conn.command(`MAIL FROM:<${envelopeAddress(this.opts.from)}>`, 250);
      await conn.command(`RCPT TO:<${mail.to}>`, 250, 251);
      await conn.command("DATA", 354);
      await conn.command(`${dotStuff(this.message(mail))}\r\n.`, 250);
      await conn.command("QUIT", 221).catch(() => undefined);
    } finally {
      conn.destroy();
    }
  }

  private message(mail: Mail): string {
    const domain = envelopeAddress(this.opts.from).split("@")[1] ?? this.opts.heloName;
    const headers = [
      `From: ${this.opts.from}`,
      `To: <${mail.to}>`,
      `Subject: ${encodeHeader(mail.subject)}`,
      `Date: ${new Date().toUTCString()}`,
      `Message-ID: <${randomBytes(12).toString("hex")}@${domain}>`,
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: base64",
    ];
    const body = (
      Buffer.from(mail.text, "utf8")
        .toString("base64")
        .match(/.{1,76}/g) ?? []
    ).join("\r\n");
    return `${headers.join("\r\n")}\r\n\r\n${body}`;
  }
}

/** The address in `Name <addr>`, or the whole value when it is a bare address. */
export function envelopeAddress(from: string): string {
  const m = /<([^>]+)>/.exec(from);
  return (m?.[1] ?? from).trim();
}

function offers(ehlo: Reply, ext: string): boolean {
  return ehlo.lines.some((l) => l.toUpperCase().split(" ")[0] === ext);
}

function encodeHeader(v: string): string {
  return /^[\x20-\x7e]*$/.test(v) ? v : `=?UTF-8?B?${Buffer.from(v, "utf8").toString("base64")}?=`;
}

/** RFC 5321 §4.5.2: a line starting with "." gets another one. */
function dotStuff(message: string): string {
  return message.replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..");
}

/** Reads SMTP replies off a socket, one command at a time. */
class SmtpConnection {
  private buffer = "";
  private lines: string[] = [];
  private waiter: ((r: Reply | Error) => void) | null = null;
  private failed: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    const fail = (err: Error) => {
      this.failed = err;
      this.waiter?.(err);
      this.waiter = null;
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("SMTP connection closed")));
  }

  static over(socket: net.Socket, timeoutMs: number): SmtpConnection {
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error("SMTP server timed out")));
    return new SmtpConnection(socket);
  }

  /** Hands the socket to TLS (after STARTTLS); this reader stops reading it. */
  upgrade(host: string): tls.TLSSocket {
    this.socket.removeAllListeners("data");
    this.socket.removeAllListeners("close");
    return tls.connect({ socket: this.socket, servername: host });
  }

  async expect(...codes: number[]): Promise<Reply> {
    const reply = await this.next();
    if (!codes.includes(reply.code)) {
      throw new Error(`SMTP server answered ${reply.code} ${reply.lines.join(" / ")}`);
    }
    return reply;
  }

  command(line: string, ...codes: number[]): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return this.expect(...codes);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private next(): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.waiter = (r) => (r instanceof Error ? reject(r) : resolve(r));
      this.drain();
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    this.drain();
  }

  /** A reply is lines `250-…` ended by `250 …` (RFC 5321 §4.2.1). */
  private drain(): void {
    let nl = this.buffer.indexOf("\n");
    while (nl >= 0 && this.waiter) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, "");
      this.buffer = this.buffer.slice(nl + 1);
      this.lines.push(line.slice(4));
      if (line[3] !== "-") {
        const reply = { code: Number(line.slice(0, 3)), lines: this.lines };
        this.lines = [];
        const w = this.waiter;
        this.waiter = null;
        w(reply);
      }
      nl = this.buffer.indexOf("\n");
    }
  }
}
