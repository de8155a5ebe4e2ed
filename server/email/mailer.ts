/** One plain-text mail. */
export type Mail = { to: string; subject: string; text: string };

/**
 * Sends mail (3PID validation links). The SMTP adapter is server/email/mailer/smtp.ts; tests and
 * a future nodemailer adapter implement the same port.
 */
export interface Mailer {
  send(mail: Mail): Promise<void>;
}
