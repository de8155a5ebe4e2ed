import type { Transporter } from "nodemailer";
import type SMTPTransport from "nodemailer/lib/smtp-transport/index.js";
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

/**
 * SMTP through nodemailer (STARTTLS, AUTH, address and header encoding are its job): one
 * connection per mail, since validation mails are rare and a pooled connection would only idle.
 */
export class SmtpMailer implements Mailer {
  private readonly transportOptions: SMTPTransport.Options;
  /** nodemailer loads with the first mail: most servers never send one. */
  private transport: Promise<Transporter> | null = null;

  constructor(private readonly opts: SmtpOptions) {
    const timeout = opts.timeoutMs ?? 30_000;
    const url = new URL(opts.url);
    this.transportOptions = {
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: Number(url.port) || (url.protocol === "smtps:" ? 465 : 25),
      secure: url.protocol === "smtps:",
      name: opts.heloName,
      auth: url.username
        ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
        : undefined,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
    };
  }

  async send(mail: Mail): Promise<void> {
    this.transport ??= import("nodemailer").then(({ default: nodemailer }) =>
      nodemailer.createTransport(this.transportOptions),
    );
    const transport = await this.transport;
    await transport.sendMail({
      from: this.opts.from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
    });
  }
}
