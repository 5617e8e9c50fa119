// "My performance": my KPIs beside the team's, the daily trend, and my QA evaluations.
import { defineStore } from "pinia";
import { ref } from "vue";
import { request, seg } from "../api/http";
import type { EvaluationActionBody, MyPerformance } from "../api/schemas";
import type { Evaluation } from "../api/types";

export const usePerformanceStore = defineStore("performance", () => {
  const kpis = ref<MyPerformance | null>(null);
  const evaluations = ref<Evaluation[]>([]);
  const drafts = ref<Record<string, string>>({}); // dispute reasons being typed survive a refresh
  const error = ref("");
  let loads = 0;

  async function load(): Promise<void> {
    const mine = ++loads;
    const [k, e] = await Promise.all([
      request<MyPerformance>("/api/kpis/me").catch((): MyPerformance => ({ available: false })),
      request<Evaluation[]>("/api/evaluations/me").catch(() => null),
    ]);
    if (mine !== loads) return; // a newer load answers; a stale one must not overwrite it
    kpis.value = k;
    if (e !== null) evaluations.value = e;
  }

  async function answer(id: string, action: "acknowledge" | "dispute"): Promise<void> {
    error.value = "";
    try {
      await request(`/api/evaluations/${seg(id)}/${action}`, {
        method: "POST",
        body: { note: drafts.value[id] ?? "" } satisfies EvaluationActionBody,
      });
      await load();
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
    }
  }

  return { kpis, evaluations, drafts, error, load, answer };
});
