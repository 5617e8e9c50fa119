// The knowledge-base page: entries (ranked when searched), filters, categories; supervisors add, edit and delete.
import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, request, seg } from "../api/http";
import type { KbBody, KbCategory, KbEntry } from "../api/schemas";

export interface KbFilters {
  q: string;
  kind: "" | "article" | "canned";
  language: "" | "en" | "zh-CN";
  category: string;
}

export const useKnowledgeStore = defineStore("knowledge", () => {
  const entries = ref<KbEntry[]>([]);
  const categories = ref<KbCategory[]>([]);
  const filters = ref<KbFilters>({ q: "", kind: "", language: "", category: "" });
  const error = ref("");
  let asked = 0;

  async function load(): Promise<void> {
    const mine = ++asked;
    const params = new URLSearchParams({ limit: "100" });
    for (const [key, value] of Object.entries(filters.value)) if (value) params.set(key, String(value));
    try {
      const [docs, cats] = await Promise.all([
        request<KbEntry[]>(`/api/kb?${params.toString()}`),
        request<KbCategory[]>("/api/kb/categories"),
      ]);
      if (mine !== asked) return; // a newer search answers
      entries.value = docs;
      categories.value = cats;
      error.value = "";
    } catch (err) {
      if (mine === asked) error.value = err instanceof Error ? err.message : String(err);
    }
  }

  /** Add (no id) or edit an entry; the server's refusal (e.g. a shortcut in use) becomes `error`. */
  async function save(body: KbBody, id = ""): Promise<boolean> {
    try {
      const path = id ? `/api/supervisor/kb/${seg(id)}` : "/api/supervisor/kb";
      await request<KbEntry>(path, { method: id ? "PUT" : "POST", body });
      error.value = "";
      await load();
      return true;
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : String(err);
      return false;
    }
  }

  async function remove(id: string): Promise<boolean> {
    try {
      await request(`/api/supervisor/kb/${seg(id)}`, { method: "DELETE" });
      await load();
      return true;
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : String(err);
      return false;
    }
  }

  return { entries, categories, filters, error, load, save, remove };
});
