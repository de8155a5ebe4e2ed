/** One plain-text mail. */
export type Mail = { to: string; subject: string; text: string };

/**
 * Sends mail (3PID validation links). The SMTP adapter (nodemailer) is server/email/mailer/smtp.ts;
 * tests may implement the same port.
 */
export interface Mailer {
  send(mail: Mail): Promise<void>;
}
