// Search over the conversations and customers the user may see: one page at a time, newest first.
import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, request } from "../api/http";
import type { SearchHit, SearchResults } from "../api/schemas";

export const useSearchStore = defineStore("search", () => {
  const query = ref("");
  const hits = ref<SearchHit[]>([]);
  const nextBefore = ref<number | null>(null);
  const loading = ref(false);
  const searched = ref(false);
  const error = ref("");
  let asked = 0;

  async function page(q: string, before: number | null): Promise<SearchResults | null> {
    const params = new URLSearchParams({ q });
    if (before !== null) params.set("before", String(before));
    const mine = ++asked;
    loading.value = true;
    error.value = "";
    try {
      const results = await request<SearchResults>(`/api/search?${params.toString()}`);
      return mine === asked ? results : null;
    } catch (err) {
      if (mine === asked) error.value = err instanceof ApiError && err.status === 400 ? "search.invalid" : "search.failed";
      return null;
    } finally {
      if (mine === asked) loading.value = false;
    }
  }

  /** A new search (an empty text clears the results). */
  async function run(q: string): Promise<void> {
    query.value = q;
    if (!q.trim()) {
      asked++;
      clear();
      return;
    }
    const results = await page(q.trim(), null);
    if (results) {
      hits.value = results.hits;
      nextBefore.value = results.next_before ?? null;
      searched.value = true;
    }
  }

  /** The next page of the same search. */
  async function more(): Promise<void> {
    if (nextBefore.value === null) return;
    const results = await page(query.value.trim(), nextBefore.value);
    if (results) {
      hits.value = [...hits.value, ...results.hits];
      nextBefore.value = results.next_before ?? null;
    }
  }

  function clear(): void {
    hits.value = [];
    nextBefore.value = null;
    searched.value = false;
    loading.value = false;
    error.value = "";
  }

  return { query, hits, nextBefore, loading, searched, error, run, more, clear };
});
