// The agent's open work on every channel, the open conversation's cross-channel history, and what the agent does to it.
import { defineStore } from "pinia";
import { computed, ref } from "vue";
import { ApiError, request, seg } from "../api/http";
import type { ReplyBody, TransferBody, TypingBody, WrapUpBody } from "../api/schemas";
import { epoch, type Conversation, type Message } from "../api/types";
import { useAttachmentsStore } from "./attachments";
import { useOrganiseStore } from "./organise";

export interface Filters {
  channel: string;
  queue: string;
  /** "" = open and pending (snoozed ones hidden); or exactly one status. */
  status: "" | "open" | "pending" | "snoozed";
  label: string;
}


const STATUS_RANK: Record<string, number> = { pending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };
const TYPING_SECONDS = 6;

/** A message belongs in a conversation's view when it is the conversation's or its customer's (the history across
 * channels, activity lines of the customer's other conversations included). */
function inView(m: Message, conv: Conversation): boolean {
  return m.conversation_id === conv.id || m.customer_id === conv.customer_id;
}

export const useConversationsStore = defineStore("conversations", () => {
  const items = ref<Record<string, Conversation>>({});
  const unread = ref<Record<string, number>>({});
  const filters = ref<Filters>({ channel: "", queue: "", status: "", label: "" });
  const currentId = ref<string | null>(null);
  const current = ref<Conversation | null>(null);
  const messages = ref<Message[]>([]);
  const typing = ref(false);
  const error = ref("");
  const organise = useOrganiseStore();
  const attachments = useAttachmentsStore();
  let typingExpiry: ReturnType<typeof setTimeout> | undefined;
  // Messages pushed while a conversation's history is on its way: those of the conversation or of its customer
  // (another conversation's activity line, e.g. the one just wrapped up) may have been stored after it was read.
  let arrived: Message[] = [];

  /** Open work sorted by wait (the longest waiting first). */
  const sorted = computed(() =>
    Object.values(items.value).sort(
      (a, b) => epoch(a.enqueue_time || a.create_time) - epoch(b.enqueue_time || b.create_time),
    ),
  );
  const visible = computed(() => {
    const f = filters.value;
    return sorted.value.filter((c) => {
      const status = organise.statusOf(c.id);
      return (
        (!f.channel || c.channel === f.channel) &&
        (!f.queue || c.queue === f.queue) &&
        (f.status ? status === f.status : status !== "snoozed") &&
        (!f.label || organise.labelsOf(c.id).includes(f.label))
      );
    });
  });
  const channels = computed(() => [...new Set(sorted.value.map((c) => c.channel ?? ""))].filter(Boolean).sort());
  const queues = computed(() => [...new Set(sorted.value.map((c) => c.queue ?? ""))].filter(Boolean).sort());

  /** Reload the list from the router (after a reconnect, or when something changed). */
  async function refresh(): Promise<void> {
    const labels = organise.refresh(); // at the same time: the list paints from the one request it needs
    try {
      const list = await request<Conversation[]>("/api/conversations");
      const fresh = Object.fromEntries(list.filter((c) => c.routing_state !== "ROUTING_STATE_OFFERED").map((c) => [c.id, c]));
      // the socket's first open asks again: the same answer does not render the whole list again
      if (JSON.stringify(fresh) !== JSON.stringify(items.value)) items.value = fresh;
      await labels;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) location.reload();
    }
  }

  function upsert(conv: Conversation): void {
    items.value = { ...items.value, [conv.id]: conv };
  }

  function remove(id: string): void {
    const { [id]: _gone, ...rest } = items.value;
    void _gone;
    items.value = rest;
    if (currentId.value === id) close();
  }

  function close(): void {
    currentId.value = null;
    current.value = null;
    messages.value = [];
    typing.value = false;
  }

  /** Open a conversation: its customer's whole history across channels. */
  async function open(id: string): Promise<void> {
    currentId.value = id;
    arrived = [];
    unread.value = { ...unread.value, [id]: 0 };
    typing.value = false;
    error.value = "";
    try {
      const data = await request<{ conversation: Conversation; messages: Message[] }>(`/api/conversations/${seg(id)}/messages`);
      if (currentId.value !== id) return; // the agent moved on meanwhile
      current.value = data.conversation;
      // what the socket brought while the history was on its way (it may not have been stored yet when read)
      const early = arrived.filter((m) => inView(m, data.conversation) && !data.messages.some((x) => x._id === m._id));
      messages.value = [...data.messages, ...early].sort((a, b) => a.time - b.time);
      arrived = [];
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
    }
  }

  /** A message arrived on the socket. */
  function onMessage(m: Message): void {
    if (current.value?.id !== currentId.value) arrived.push(m); // still loading: kept if it belongs to the view
    const shown = current.value !== null && inView(m, current.value);
    if (shown && !messages.value.some((x) => x._id === m._id)) {
      messages.value = [...messages.value, m];
      if (m.direction === "incoming") {
        typing.value = false; // the message the visitor was typing came
        if (m.conversation_id === currentId.value && document.visibilityState === "visible") void markRead();
      }
    }
    if (m.conversation_id !== currentId.value && m.direction === "incoming")
      unread.value = { ...unread.value, [m.conversation_id]: (unread.value[m.conversation_id] ?? 0) + 1 };
    if (!m.private) organise.onMessage(m.conversation_id, m.direction);
    const conv = items.value[m.conversation_id];
    if (conv && m.direction === "incoming") upsert({ ...conv, preview: m.text || conv.preview });
  }

  /** Delivery progress of an outgoing message: the furthest state wins, whatever order the receipts came in. */
  function onStatus(s: { id: string; status: string; error?: string }): void {
    const rank = (status: string | undefined): number => STATUS_RANK[status ?? ""] ?? 0;
    messages.value = messages.value.map((m) =>
      m._id === s.id && rank(s.status) >= rank(m.status) ? { ...m, status: s.status, error: s.error ?? "" } : m,
    );
  }

  /** The web-chat visitor types; the line goes by itself when no word comes for a while (a closed tab says nothing). */
  function onTyping(t: { conversation_id: string; typing: boolean }): void {
    if (t.conversation_id !== currentId.value) return;
    typing.value = t.typing;
    clearTimeout(typingExpiry);
    if (t.typing) typingExpiry = setTimeout(() => (typing.value = false), TYPING_SECONDS * 1000);
  }

  /** The agent has the conversation open: tell a web-chat visitor their new messages were read. */
  async function markRead(): Promise<void> {
    if (currentId.value && current.value?.channel === "CHANNEL_WEBCHAT")
      await request(`/api/conversations/${seg(currentId.value)}/read`, { method: "POST", body: {} }).catch(() => undefined);
  }

  function unreadOf(id: string): number {
    return id === currentId.value ? 0 : (unread.value[id] ?? 0);
  }

  async function act<T>(path: string, body: unknown): Promise<T | null> {
    error.value = "";
    try {
      return await request<T>(path, { method: "POST", body });
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
      return null;
    }
  }

  /** Send a reply, or save an internal note (never sent to the customer). */
  async function reply(draft: ReplyBody): Promise<boolean> {
    const id = currentId.value;
    const files = id ? attachments.ids(id) : []; // the files attached for this reply go with it
    if (!id || (!(draft.text ?? "").trim() && !files.length)) return false;
    error.value = "";
    try {
      await request(`/api/conversations/${seg(id)}/reply`, { method: "POST", body: { ...draft, attachments: files } });
    } catch (err) {
      // A channel's file rule (WhatsApp: one file a message) is said beside the files, translated.
      if (!attachments.refusedReply(err)) error.value = err instanceof Error ? err.message : String(err);
      return false;
    }
    attachments.clear(id);
    return true;
  }

  /** Tell a web-chat visitor the agent is typing. */
  async function sendTyping(on: boolean): Promise<void> {
    if (currentId.value && current.value?.channel === "CHANNEL_WEBCHAT")
      await request(`/api/conversations/${seg(currentId.value)}/typing`, { method: "POST", body: { typing: on } satisfies TypingBody }).catch(
        () => undefined,
      );
  }

  /** End the talk with a disposition; the router starts the wrap-up timer. */
  async function wrapUp(w: WrapUpBody): Promise<boolean> {
    const id = currentId.value;
    if (!id || (await act(`/api/conversations/${seg(id)}/wrapup`, w)) === null) return false;
    remove(id);
    return true;
  }

  /** Hand the conversation to a queue or a colleague. */
  async function transfer(target: TransferBody): Promise<boolean> {
    const id = currentId.value;
    if (!id || (await act(`/api/conversations/${seg(id)}/transfer`, target)) === null) return false;
    remove(id);
    return true;
  }

  return {
    items, unread, filters, currentId, current, messages, typing, error, sorted, visible, channels, queues,
    refresh, upsert, remove, close, open, onMessage, onStatus, onTyping, markRead, unreadOf, reply, sendTyping, wrapUp, transfer,
  };
});
