// Supervisor interventions: who is present in the agent's conversations (live over the socket), and the supervisor's
// monitor, whisper and barge from the live view.
import { defineStore } from "pinia";
import { ref } from "vue";
import { request, seg } from "../api/http";
import type { InterventionBody, MonitorBody, Presence, PresenceList } from "../api/schemas";

export type { Presence };

export interface InterventionNotice extends Presence {
  conversation_id: string;
}

const GONE = ["monitor_stop", "call_leave"]; // after these the supervisor is no longer present

export const useInterventionsStore = defineStore("interventions", () => {
  const present = ref<Record<string, Presence[]>>({}); // conversation id -> supervisors present
  const monitoring = ref<string | null>(null); // the conversation this supervisor watches
  const error = ref("");
  const sent = ref(false);

  async function load(conversationId: string): Promise<void> {
    try {
      const data = await request<PresenceList>(`/api/conversations/${seg(conversationId)}/supervisors`);
      present.value = { ...present.value, [conversationId]: data.supervisors };
    } catch {
      /* no presence line is shown; the next notice brings it */
    }
  }

  /** A supervisor.intervened notice from the socket: who is present now. */
  function onNotice(n: InterventionNotice): void {
    const others = (present.value[n.conversation_id] ?? []).filter((p) => p.supervisor_id !== n.supervisor_id);
    const now = GONE.includes(n.action)
      ? others
      : [...others, { supervisor_id: n.supervisor_id, supervisor_name: n.supervisor_name, action: n.action }];
    present.value = { ...present.value, [n.conversation_id]: now };
  }

  /** Start watching a conversation (and stop watching the previous one); null stops. The agent is told. */
  async function monitor(conversationId: string | null): Promise<void> {
    const previous = monitoring.value;
    if (previous === conversationId) return;
    monitoring.value = conversationId;
    const post = (id: string, active: boolean): Promise<unknown> =>
      request(`/api/supervisor/conversations/${seg(id)}/monitor`, { method: "POST", body: { active } satisfies MonitorBody }).catch(() => undefined);
    if (previous) await post(previous, false); // a closed conversation answers 409: nothing to stop
    if (conversationId) await post(conversationId, true);
  }

  /** Whisper (to the agent only) or barge (to the customer, as the supervisor). */
  async function send(conversationId: string, kind: "whisper" | "barge", text: string): Promise<boolean> {
    sent.value = false;
    try {
      await request(`/api/supervisor/conversations/${seg(conversationId)}/${kind}`, { method: "POST", body: { text } satisfies InterventionBody });
      error.value = "";
      sent.value = true;
      return true;
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
      return false;
    }
  }

  return { present, monitoring, error, sent, load, onNotice, monitor, send };
});
