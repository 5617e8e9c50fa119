// Canned responses and knowledge-base answers.
import { defineStore } from "pinia";
import { ref } from "vue";
import { request } from "../api/http";
import type { KbBody } from "../api/schemas";
import type { KbDoc } from "../api/types";

export const useKbStore = defineStore("kb", () => {
  const results = ref<KbDoc[]>([]);
  let asked = 0;

  async function search(q: string): Promise<void> {
    const mine = ++asked;
    const docs = await request<KbDoc[]>(`/api/kb?q=${encodeURIComponent(q)}`).catch(() => []);
    if (mine === asked) results.value = docs;
  }

  /** Supervisors add or replace an answer. */
  async function save(title: string, body: string): Promise<boolean> {
    try {
      await request("/api/supervisor/kb", { method: "POST", body: { title, body } satisfies KbBody });
      await search("");
      return true;
    } catch {
      return false;
    }
  }

  return { results, search, save };
});
