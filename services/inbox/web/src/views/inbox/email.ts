// Email replies: the Cc field's addresses, and the customer's mail the reply quotes.
import type { Message } from "../../api/types";

const ADDRESS = /^[^@\s,;<>"()[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

/** The Cc field split on commas, semicolons and spaces: valid addresses (each once) and the rest. */
export function parseCc(field: string): { addresses: string[]; invalid: string[] } {
  const parts = field.split(/[\s,;]+/).filter(Boolean);
  const addresses: string[] = [];
  const invalid: string[] = [];
  for (const p of parts) {
    if (!ADDRESS.test(p) || p.length > 254) invalid.push(p);
    else if (!addresses.some((a) => a.toLowerCase() === p.toLowerCase())) addresses.push(p);
  }
  return { addresses, invalid };
}

/** The customer's latest message in the conversation: what a quoted reply carries under it. */
export function lastIncoming(messages: Message[], conversationId: string): Message | undefined {
  return [...messages].reverse().find((m) => m.conversation_id === conversationId && m.direction === "incoming");
}

/** The quoted mail's sender as the attribution line names it: "Name <address>", or the address alone. */
export function quotedSender(name: string | undefined, address: string | undefined): string {
  const addr = address ?? "";
  return name && name !== addr ? `${name} <${addr}>` : addr;
}

/** The Cc a reply-all starts with: the mail's other recipients, comma separated. */
export function replyAllCc(message: Message | undefined): string {
  return (message?.reply_all_cc ?? []).join(", ");
}
