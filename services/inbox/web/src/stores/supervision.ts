// The supervisor's live conversations: every open conversation (filtered, sorted by wait), one opened read-only,
// why this agent, why still waiting, reassign and forced states. Kept live by the socket (stores/live.ts).
import { defineStore } from "pinia";
import { ref } from "vue";
import { request, seg } from "../api/http";
import type { ForceStateBody, LiveBoard, ReassignBody } from "../api/schemas";
import type { Conversation, Message, RoutingDecision, WaitingExplanation } from "../api/types";

export interface LiveFilters {
  queue: string;
  agent: string;
  channel: string;
  state: string;
  min_wait: number;
}

const RELOAD_MS = 300; // a burst of events reloads the list once

export const useSupervisionStore = defineStore("supervision", () => {
  const board = ref<LiveBoard | null>(null);
  const loadedAt = ref(0); // client seconds when the board was read: waits keep counting from there
  const filters = ref<LiveFilters>({ queue: "", agent: "", channel: "", state: "", min_wait: 0 });
  const currentId = ref<string | null>(null);
  const current = ref<Conversation | null>(null);
  const messages = ref<Message[]>([]);
  const decisions = ref<RoutingDecision[] | null>(null);
  const waiting = ref<WaitingExplanation | null>(null);
  const error = ref("");
  const watched = ref(false);
  let pending: ReturnType<typeof setTimeout> | undefined;

  function fail(err: unknown): void {
    error.value = err instanceof Error ? err.message : String(err);
  }

  async function load(): Promise<void> {
    const f = filters.value;
    const params = new URLSearchParams({ sort: "wait" });
    for (const [k, v] of Object.entries(f)) if (v) params.set(k, String(v));
    try {
      board.value = await request<LiveBoard>(`/api/supervisor/live?${params.toString()}`);
      loadedAt.value = Date.now() / 1000;
      error.value = "";
    } catch (err) {
      fail(err);
    }
  }

  /** Something changed in the center: reload the list (once per burst) while the page is shown. */
  function changed(conversationId?: string): void {
    if (!watched.value) return;
    clearTimeout(pending);
    pending = setTimeout(() => void load(), RELOAD_MS);
    if (conversationId && conversationId === currentId.value) void open(conversationId, true);
  }

  async function open(id: string, keepPanels = false): Promise<void> {
    currentId.value = id;
    if (!keepPanels) {
      decisions.value = null;
      waiting.value = null;
    }
    try {
      const data = await request<{ conversation: Conversation; messages: Message[] }>(`/api/supervisor/conversations/${seg(id)}`);
      if (currentId.value !== id) return;
      current.value = data.conversation;
      messages.value = data.messages;
      error.value = "";
    } catch (err) {
      fail(err);
    }
  }

  function close(): void {
    currentId.value = null;
    current.value = null;
    messages.value = [];
    decisions.value = null;
    waiting.value = null;
  }

  /** A message went by on the socket: monitor it live when it belongs to the open customer's history. */
  function onMessage(m: Message): void {
    if (!current.value || m.customer_id !== current.value.customer_id) return;
    if (messages.value.some((x) => x._id === m._id)) return;
    messages.value = [...messages.value, m];
  }

  async function why(id: string): Promise<void> {
    try {
      decisions.value = await request<RoutingDecision[]>(`/api/supervisor/conversations/${seg(id)}/why`);
    } catch (err) {
      fail(err);
    }
  }

  async function whyWaiting(id: string): Promise<void> {
    try {
      waiting.value = await request<WaitingExplanation>(`/api/supervisor/conversations/${seg(id)}/waiting`);
    } catch (err) {
      fail(err);
    }
  }

  async function reassign(id: string, body: ReassignBody): Promise<boolean> {
    try {
      await request(`/api/supervisor/conversations/${seg(id)}/reassign`, { method: "POST", body });
      await load();
      return true;
    } catch (err) {
      fail(err);
      return false;
    }
  }

  async function forceState(agentId: string, state: ForceStateBody["state"]): Promise<boolean> {
    try {
      await request(`/api/supervisor/agents/${seg(agentId)}/state`, { method: "POST", body: { state } satisfies ForceStateBody });
      await load();
      return true;
    } catch (err) {
      fail(err);
      return false;
    }
  }

  return {
    board, loadedAt, filters, currentId, current, messages, decisions, waiting, error, watched,
    load, changed, open, close, onMessage, why, whyWaiting, reassign, forceState,
  };
});
