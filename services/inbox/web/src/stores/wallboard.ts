// The supervisor's wallboard: queues live, agents by state, service level by hour; forced states; why this agent.
import { defineStore } from "pinia";
import { ref } from "vue";
import { request, seg } from "../api/http";
import type { ForceStateBody } from "../api/schemas";
import type { RoutingDecision, Wallboard } from "../api/types";

export const useWallboardStore = defineStore("wallboard", () => {
  const data = ref<Wallboard | null>(null);
  const decisions = ref<RoutingDecision[] | null>(null);
  const error = ref("");

  async function load(): Promise<void> {
    try {
      data.value = await request<Wallboard>("/api/supervisor/wallboard");
      error.value = "";
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
    }
  }

  async function forceState(agentId: string, state: ForceStateBody["state"]): Promise<void> {
    await request(`/api/supervisor/agents/${seg(agentId)}/state`, { method: "POST", body: { state } satisfies ForceStateBody }).catch((err: Error) => {
      error.value = err.message;
    });
    await load();
  }

  async function why(conversationId: string): Promise<void> {
    try {
      decisions.value = await request<RoutingDecision[]>(`/api/supervisor/conversations/${seg(conversationId)}/why`);
      error.value = "";
    } catch (err) {
      decisions.value = null;
      error.value = err instanceof Error ? err.message : String(err);
    }
  }

  return { data, decisions, error, load, forceState, why };
});
