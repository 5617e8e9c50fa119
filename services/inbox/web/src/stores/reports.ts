// Historical reports: the chosen window and grouping, the report the inbox returns, and its export links.
import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, request } from "../api/http";
import type { Report } from "../api/schemas";
import { type Grouping, type Preset, windowParams } from "../views/reports/range";

export type ReportError = "" | "badRange" | "refused" | "unavailable";

export const useReportsStore = defineStore("reports", () => {
  const preset = ref<Preset>("today");
  const first = ref(""); // custom window: first and last local day, inclusive
  const last = ref("");
  const grouping = ref<Grouping>("queue");
  const report = ref<Report | null>(null);
  const loading = ref(false);
  const error = ref<ReportError>("");
  let loads = 0;

  /** Fetch the report for the current choices (a newer request wins over a slower older one). */
  async function load(): Promise<void> {
    const window = windowParams(preset.value, first.value, last.value);
    if (window === null) {
      error.value = "badRange";
      return;
    }
    const params = new URLSearchParams({ ...window, group_by: grouping.value, interval: "15m" });
    const mine = ++loads;
    loading.value = true;
    try {
      const answer = await request<Report>(`/api/supervisor/reports?${params.toString()}`);
      if (mine !== loads) return;
      report.value = answer;
      error.value = "";
      if (preset.value !== "custom" && answer.from && answer.to) adoptDays(answer.from, answer.to);
    } catch (err) {
      if (mine !== loads) return;
      error.value = err instanceof ApiError && err.status === 400 ? "refused" : "unavailable";
    } finally {
      if (mine === loads) loading.value = false;
    }
  }

  /** The custom fields start from the window last shown, so "custom" edits what is on screen. */
  function adoptDays(from: string, to: string): void {
    first.value = from.slice(0, 10);
    const end = new Date(Date.parse(`${to.slice(0, 10)}T12:00:00Z`) - (to.slice(11, 19) === "00:00:00" ? 86_400_000 : 0));
    last.value = end.toISOString().slice(0, 10);
  }

  /** The download of exactly the report on screen: its own [from, to) with offsets, its grouping, in `lang`. */
  function exportHref(format: "csv" | "xlsx", lang: string): string {
    const r = report.value;
    if (!r) return "";
    const params = new URLSearchParams({ from: r.from, to: r.to, group_by: r.group_by, interval: r.interval, format, lang });
    return `/api/supervisor/reports/export?${params.toString()}`;
  }

  return { preset, first, last, grouping, report, loading, error, load, exportHref };
});
