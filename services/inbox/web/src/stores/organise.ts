// Labels, snooze and status (open / pending / snoozed) of the agent's conversations (GET /api/organise).
import { defineStore } from "pinia";
import { ref } from "vue";
import { request, seg } from "../api/http";
import type { Labels, LabelsBody, Organised, OrganisedConversation, SnoozeBody, Snoozed } from "../api/schemas";
import { useClockStore } from "./clock";

export type Status = OrganisedConversation["status"];

export const useOrganiseStore = defineStore("organise", () => {
  const rows = ref<Record<string, OrganisedConversation>>({});
  const known = ref<string[]>([]);
  const error = ref("");
  const clock = useClockStore();
  let asked = 0;

  /** Reload from the inbox (with the conversation list: after a reconnect or a routing change). */
  async function refresh(): Promise<void> {
    const mine = ++asked;
    try {
      const data = await request<Organised>("/api/organise");
      if (mine !== asked) return;
      rows.value = data.conversations;
      known.value = data.labels;
    } catch {
      /* the list still works without labels; the next refresh catches up */
    }
  }

  /** The status now: a snooze ends by itself when its time passes (the server says the same on its next read). */
  function statusOf(id: string): Status {
    const row = rows.value[id];
    if (!row) return "open";
    if (row.status === "snoozed" && (row.snoozed_until ?? 0) <= clock.now) return "open";
    return row.status;
  }

  function labelsOf(id: string): string[] {
    return rows.value[id]?.labels ?? [];
  }

  /** A message on the socket: the customer writing wakes a snoozed conversation; our reply makes it pending. */
  function onMessage(id: string, direction: string): void {
    const row = rows.value[id];
    if (!row || (direction !== "incoming" && direction !== "outgoing")) return;
    const status: Status = direction === "incoming" ? "open" : row.status === "snoozed" ? "snoozed" : "pending";
    rows.value = { ...rows.value, [id]: { ...row, status, snoozed_until: status === "snoozed" ? row.snoozed_until : null } };
  }

  function put(id: string, change: Partial<OrganisedConversation>): void {
    const row = rows.value[id] ?? { labels: [], status: "open", snoozed_until: null };
    rows.value = { ...rows.value, [id]: { ...row, ...change } };
  }

  async function changeLabels(id: string, body: LabelsBody): Promise<boolean> {
    error.value = "";
    try {
      const r = await request<Labels>(`/api/conversations/${seg(id)}/labels`, { method: "POST", body });
      put(id, { labels: r.labels });
      known.value = [...new Set([...known.value, ...r.labels])].sort();
      return true;
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
      return false;
    }
  }

  /** Snooze until `until` (epoch seconds), or wake now with null. */
  async function snooze(id: string, until: number | null): Promise<boolean> {
    error.value = "";
    try {
      const r = await request<Snoozed>(`/api/conversations/${seg(id)}/snooze`, {
        method: "POST",
        body: { until } satisfies SnoozeBody,
      });
      put(id, { snoozed_until: r.snoozed_until, status: r.snoozed_until ? "snoozed" : "open" });
      return true;
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
      return false;
    }
  }

  return {
    rows, known, error, refresh, statusOf, labelsOf, onMessage,
    addLabel: (id: string, label: string) => changeLabels(id, { add: [label], remove: [] }),
    removeLabel: (id: string, label: string) => changeLabels(id, { add: [], remove: [label] }),
    snooze,
  };
});
