// "My performance": my KPIs beside the team's, the daily trend, and my QA evaluations.
import { defineStore } from "pinia";
import { ref } from "vue";
import { request, seg } from "../api/http";
import type { EvaluationActionBody, MyPerformance } from "../api/schemas";
import type { Evaluation } from "../api/types";

/** How often an open "My performance" asks again: quality's figures move with each ingest batch, seconds apart. */
export const REFRESH_MS = 60_000;

export const usePerformanceStore = defineStore("performance", () => {
  const kpis = ref<MyPerformance | null>(null);
  const evaluations = ref<Evaluation[]>([]);
  const drafts = ref<Record<string, string>>({}); // dispute reasons being typed survive a refresh
  const error = ref("");
  const loadedAt = ref<number | null>(null); // epoch seconds of the figures shown
  let loads = 0;
  let timer: ReturnType<typeof setInterval> | undefined;

  async function load(): Promise<void> {
    const mine = ++loads;
    const [k, e] = await Promise.all([
      request<MyPerformance>("/api/kpis/me").catch((): MyPerformance => ({ available: false })),
      request<Evaluation[]>("/api/evaluations/me").catch(() => null),
    ]);
    if (mine !== loads) return; // a newer load answers; a stale one must not overwrite it
    kpis.value = k;
    if (k.available) loadedAt.value = Date.now() / 1000;
    if (e !== null) evaluations.value = e;
  }

  /** Load now and again every `periodMs` while the page is in view (an agent keeps the page open through a shift;
   *  a hidden tab asks nothing). `stopRefreshing` when the view goes. */
  function keepFresh(periodMs = REFRESH_MS): void {
    stopRefreshing();
    void load();
    timer = setInterval(() => {
      if (document.visibilityState === "visible") void load();
    }, periodMs);
  }

  function stopRefreshing(): void {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
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

  return { kpis, evaluations, drafts, error, loadedAt, load, answer, keepFresh, stopRefreshing };
});
