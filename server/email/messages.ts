import type { Mail } from "./mailer.ts";

export type Purpose = "register" | "add" | "reset";

/** Where each purpose's mailed link points: Synapse's paths, so its links look the same. */
export const SUBMIT_PATHS: Record<Purpose, string> = {
  register: "/_matrix/client/unstable/registration/email/submit_token",
  add: "/_matrix/client/unstable/add_threepid/email/submit_token",
  reset: "/_synapse/client/password_reset/email/submit_token",
};

const WHAT: Record<Purpose, { subject: string; intro: string }> = {
  register: {
    subject: "Validate your email",
    intro: "You have asked us to register this email with a new Matrix account on",
  },
  add: {
    subject: "Validate your email",
    intro: "You have asked us to add this email to your Matrix account on",
  },
  reset: {
    subject: "Password reset",
    intro: "A password reset was requested for the Matrix account with this email on",
  },
};

/** The validation mail: a link to follow, valid for `ttlMinutes`. */
export function validationMail(
  purpose: Purpose,
  to: string,
  link: string,
  serverName: string,
  ttlMinutes: number,
): Mail {
  const w = WHAT[purpose];
  return {
    to,
    subject: `[${serverName}] ${w.subject}`,
    text: [
      `${w.intro} ${serverName}.`,
      "",
      `If this was you, follow this link (it works for ${ttlMinutes} minutes):`,
      "",
      link,
      "",
      "If it was not you, ignore this mail: nothing changes until the link is followed.",
      "",
    ].join("\n"),
  };
}

/** The page the mailed link opens. */
export function resultPage(ok: boolean, message: string): string {
  const esc = message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const title = ok ? "Email validated" : "Email validation failed";
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${esc}</p></body></html>`;
}
