// The kinds of data with a retention period, as the server names them, and their catalogue keys.
export const KINDS = ["messages", "attachments", "recordings", "events", "evaluations", "audit"] as const;

const KEYS: Record<string, string> = {
  messages: "privacy.kinds.messages",
  attachments: "privacy.kinds.attachments",
  recordings: "privacy.kinds.recordings",
  events: "privacy.kinds.events",
  evaluations: "privacy.kinds.evaluations",
  audit: "privacy.kinds.audit",
};

/** The catalogue key of a kind of data (unknown kinds fall back to "other"). */
export function kindKey(kind: string): string {
  return KEYS[kind] ?? "privacy.kinds.other";
}
