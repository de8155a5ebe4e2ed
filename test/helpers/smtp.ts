import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

/** A Python with aiosmtpd (Debian's python3-aiosmtpd, installed by .ci/smtp.sh), or null. */
export const aiosmtpdPython: string | null =
  ["python3", "/usr/bin/python3"].find(
    (py) => spawnSync(py, ["-c", "import aiosmtpd"], { stdio: "ignore" }).status === 0,
  ) ?? null;

export type ReceivedMail = { to: string; subject: string; text: string; headers: Record<string, string> };

export type TestSmtp = {
  url: string;
  /** Every mail received so far. */
  mails(): ReceivedMail[];
  /** Waits for the `n`th mail (1-based) to `to`. */
  waitForMail(to: string, n?: number, timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
};

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ host: "127.0.0.1", port }, () => {
      c.destroy();
      resolve(true);
    });
    c.on("error", () => resolve(false));
  });
}

/** RFC 2045 quoted-printable (what nodemailer uses for long text lines): soft breaks, =XX bytes. */
function decodeQuotedPrintable(body: string): string {
  const bytes = body
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(bytes, "latin1").toString("utf8");
}

/** One message of aiosmtpd's Maildir: headers, then the (base64, quoted-printable or plain) text body. */
function parseMail(raw: string): ReceivedMail {
  const split = raw.search(/\r?\n\r?\n/);
  const head = raw.slice(0, split).replace(/\r?\n[ \t]+/g, " ");
  const body = raw.slice(split).trim();
  const headers: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  const encoding = headers["content-transfer-encoding"]?.toLowerCase();
  const text =
    encoding === "base64"
      ? Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8")
      : encoding === "quoted-printable"
        ? decodeQuotedPrintable(body)
        : body;
  const to = (/<([^>]+)>/.exec(headers.to ?? "")?.[1] ?? headers.to ?? "").toLowerCase();
  return { to, subject: headers.subject ?? "", text, headers };
}

/**
 * A real SMTP server on loopback (aiosmtpd with its Maildir handler) on a free port, writing into
 * its own directory: each test gets its own, as with the TURN server.
 */
export async function startTestSmtp(): Promise<TestSmtp> {
  if (!aiosmtpdPython) throw new Error("aiosmtpd is not installed (bash .ci/smtp.sh)");
  const root = mkdtempSync(path.join(tmpdir(), "nova-mail-"));
  // Python's Maildir creates its folders only when the directory does not exist yet.
  const dir = path.join(root, "maildir");
  const port = await freePort();
  const child: ChildProcess = spawn(
    aiosmtpdPython,
    ["-m", "aiosmtpd", "-n", "-l", `127.0.0.1:${port}`, "-c", "aiosmtpd.handlers.Mailbox", dir],
    { stdio: "ignore" },
  );
  for (let i = 0; i < 100 && !(await accepts(port)); i++) await new Promise((r) => setTimeout(r, 100));
  const mails = (): ReceivedMail[] => {
    const newDir = path.join(dir, "new");
    let files: string[] = [];
    try {
      // Python's Maildir names are `<secs>.M<usecs>P<pid>Q<count>.<host>`: the count orders them.
      const order = (f: string) => Number(/Q(\d+)\./.exec(f)?.[1] ?? 0);
      files = readdirSync(newDir).sort((a, b) => order(a) - order(b));
    } catch {
      return [];
    }
    return files.map((f) => parseMail(readFileSync(path.join(newDir, f), "utf8")));
  };
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    async waitForMail(to, n = 1, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = mails().filter((m) => m.to === to.toLowerCase());
        if (found.length >= n) return found[n - 1]!;
        if (Date.now() > deadline) throw new Error(`no mail #${n} to ${to} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      child.kill();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
