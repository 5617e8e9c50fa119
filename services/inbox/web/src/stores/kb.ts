// Canned responses and knowledge-base answers for the composer (the knowledge-base page has its own store).
import { defineStore } from "pinia";
import { ref } from "vue";
import { request } from "../api/http";
import type { KbDoc } from "../api/types";

export const useKbStore = defineStore("kb", () => {
  const results = ref<KbDoc[]>([]);
  let asked = 0;

  async function search(q: string): Promise<void> {
    const mine = ++asked;
    const docs = await request<KbDoc[]>(`/api/kb?q=${encodeURIComponent(q)}`).catch(() => []);
    if (mine === asked) results.value = docs;
  }

  return { results, search };
});
