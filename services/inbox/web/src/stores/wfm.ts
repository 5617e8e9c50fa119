// Workforce management: today's intraday view and the week's coverage (supervisors), my own shifts (everyone).
import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, request } from "../api/http";

export interface IntradayRow {
  start: string;
  forecast: number;
  lower: number;
  upper: number;
  actual?: number;
  reforecast?: number;
  required?: number;
  scheduled?: number;
  gap?: number;
}
export interface Intraday {
  queue: string;
  day: string;
  factor: number;
  actual_so_far: number;
  forecast_so_far: number;
  intervals: IntradayRow[];
}
export interface Activity {
  kind: "work" | "break" | "lunch";
  start: string;
  end: string;
}
export interface Shift {
  agent: string;
  queue: string;
  date: string;
  start: string;
  end: string;
  activities: Activity[];
}
export interface CoverageRow {
  queue: string;
  start: string;
  required: number;
  scheduled: number;
}
export interface Schedule {
  week: string;
  time_zone: string;
  shifts: Shift[];
  coverage?: CoverageRow[];
  uncovered?: { queue: string; start: string; missing: number }[];
  summary: { coverage: number; agent_hours: number; lp_bound_hours: number | null; shifts: number };
}
export interface Adherence {
  day: string;
  agents: { agent: string; adherence: number | null; conformance: number | null; scheduled_seconds: number }[];
}
export type WfmError = "" | "missing" | "unavailable";

/** The ISO week (e.g. 2026-W50) holding a date, by its Thursday. */
export function isoWeek(date: Date): string {
  const d = new Date(Date.UTC(date.getFullYear(), date.getMonth(), date.getDate()));
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const first = new Date(Date.UTC(d.getUTCFullYear(), 0, 1));
  const week = Math.ceil(((d.getTime() - first.getTime()) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

function failure(err: unknown): WfmError {
  return err instanceof ApiError && (err.status === 400 || err.status === 404) ? "missing" : "unavailable";
}

export const useWfmStore = defineStore("wfm", () => {
  const queue = ref("support");
  const week = ref(isoWeek(new Date()));
  const intraday = ref<Intraday | null>(null);
  const team = ref<Schedule | null>(null);
  const mine = ref<Schedule | null>(null);
  const intradayError = ref<WfmError>("");
  const teamError = ref<WfmError>("");
  const mineError = ref<WfmError>("");
  const adherence = ref<Adherence | null>(null);

  async function loadIntraday(): Promise<void> {
    try {
      intraday.value = await request<Intraday>(`/api/supervisor/wfm/intraday?queue=${encodeURIComponent(queue.value)}`);
      intradayError.value = "";
    } catch (err) {
      intraday.value = null;
      intradayError.value = failure(err);
    }
  }

  async function loadTeam(): Promise<void> {
    try {
      team.value = await request<Schedule>(`/api/supervisor/wfm/schedule?week=${week.value}`);
      teamError.value = "";
    } catch (err) {
      team.value = null;
      teamError.value = failure(err);
    }
  }

  async function loadMine(): Promise<void> {
    try {
      mine.value = await request<Schedule>(`/api/wfm/schedule?week=${week.value}`);
      mineError.value = "";
    } catch (err) {
      mine.value = null;
      mineError.value = failure(err);
    }
  }

  /** My adherence and conformance today so far (null when the planning service cannot say). */
  async function loadAdherence(): Promise<void> {
    try {
      adherence.value = await request<Adherence>("/api/wfm/adherence");
    } catch {
      adherence.value = null;
    }
  }

  return { queue, week, intraday, team, mine, adherence, intradayError, teamError, mineError, loadIntraday, loadTeam, loadMine, loadAdherence };
});
