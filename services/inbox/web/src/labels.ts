// Catalogue keys for values that come from the server (channels, states, reasons), written out in full.
export const CHANNEL_KEYS: Record<string, string> = {
  CHANNEL_SMS: "channels.sms",
  CHANNEL_EMAIL: "channels.email",
  CHANNEL_VOICE: "channels.voice",
  CHANNEL_WEBCHAT: "channels.webchat",
  CHANNEL_TELEGRAM: "channels.telegram",
  CHANNEL_WECHAT: "channels.wechat",
  CHANNEL_WHATSAPP: "channels.whatsapp",
};
/** A customer's address as people read it: without Twilio's "whatsapp:" transport prefix (the channel's chip
 * already says WhatsApp), so a WhatsApp customer reads +447700900123 like an SMS one. */
export function addressLabel(sourceId: string): string {
  return sourceId.replace(/^whatsapp:/i, "");
}

/** A channel (CHANNEL_SMS, or already sms) as its lower-case token: stored messages, merge requests, file rules. */
export function channelToken(channel: string): string {
  return channel.replace(/^CHANNEL_/, "").toLowerCase();
}

/** Lower-case channel tokens (as in stored messages and merge requests) to the same keys. */
export const CHANNEL_TOKEN_KEYS: Record<string, string> = Object.fromEntries(
  Object.entries(CHANNEL_KEYS).map(([k, v]) => [channelToken(k), v]),
);

export const STATE_KEYS = {
  AVAILABLE: "states.available",
  BUSY: "states.busy",
  WRAP_UP: "states.wrapUp",
  AWAY: "states.away",
  OFFLINE: "states.offline",
} as const;

export const REASON_KEYS: Record<string, string> = {
  break: "reasons.break",
  lunch: "reasons.lunch",
  training: "reasons.training",
  meeting: "reasons.meeting",
  missed_offers: "reasons.missedOffers",
  heartbeat_lost: "reasons.heartbeatLost",
  supervisor: "reasons.supervisor",
};

export const STATUS_KEYS: Record<string, string> = {
  pending: "delivery.pending",
  sent: "delivery.sent",
  delivered: "delivery.delivered",
  failed: "delivery.failed",
  read: "delivery.read",
};

export const EVALUATION_KEYS: Record<string, string> = {
  submitted: "performance.qaSubmitted",
  acknowledged: "performance.qaAcknowledged",
  disputed: "performance.qaDisputed",
};
