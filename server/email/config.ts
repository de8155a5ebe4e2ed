import { z } from "zod";

/**
 * Email 3PIDs: the SMTP server validation mails go through. Without NOVA_SMTP_URL the
 * requestToken endpoints answer 400 and no flow offers m.login.email.identity, as Synapse does
 * without its `email` section. One part of the process's configuration (server/config.ts).
 */
export const emailEnvSchema = z.object({
  NOVA_SMTP_URL: z
    .string()
    .url()
    .refine((u) => /^smtps?:\/\/[^/]/.test(u), "must be smtp://host[:port] or smtps://host[:port]")
    .optional(),
  /** The From header; default `Nova <noreply@<server name's host>>`. */
  NOVA_SMTP_FROM: z
    .string()
    .regex(/^[^\r\n]*[^\s<>@]+@[^\s<>@]+>?$/, "must be an address or `Name <address>`")
    .optional(),
});

export type EmailConfig = {
  /** Null: email 3PIDs are off. */
  email: { smtpUrl: string; from: string } | null;
};

export function emailConfig(e: z.infer<typeof emailEnvSchema>, serverName: string): EmailConfig {
  if (!e.NOVA_SMTP_URL) return { email: null };
  const host = serverName.replace(/:\d+$/, "");
  return { email: { smtpUrl: e.NOVA_SMTP_URL, from: e.NOVA_SMTP_FROM ?? `Nova <noreply@${host}>` } };
}
