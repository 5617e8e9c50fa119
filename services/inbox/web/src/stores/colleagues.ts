// Colleagues and their states, for transfers.
import { defineStore } from "pinia";
import { ref } from "vue";
import { request } from "../api/http";
import type { Agent } from "../api/types";

export const useColleaguesStore = defineStore("colleagues", () => {
  const agents = ref<Agent[]>([]);

  async function load(): Promise<void> {
    agents.value = await request<Agent[]>("/api/agents").catch(() => agents.value);
  }

  return { agents, load };
});
