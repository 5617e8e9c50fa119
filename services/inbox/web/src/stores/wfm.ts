// Workforce management: today's intraday view and the week's coverage (supervisors), my own shifts (everyone).
import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, request } from "../api/http";
import type { ShiftEditBody } from "../api/schemas";

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
export interface PlanAgent {
  id: string;
  skills: string[];
  max_hours: number;
  max_days: number;
}
export interface Schedule {
  id: string;
  week: string;
  interval_seconds: number;
  agents?: PlanAgent[];
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
/** Why an edit was refused: quality's code and its parameters (or the inbox's status when it refused first). */
export interface EditRefusal {
  code: string;
  params: Record<string, string | number>;
}

/** The refusal of a failed edit, from the server's JSON body (quality's checks) or its status. */
export function refusal(err: unknown): EditRefusal {
  if (!(err instanceof ApiError)) return { code: "unavailable", params: {} };
  try {
    const body = JSON.parse(err.message) as { code?: unknown; params?: unknown };
    if (typeof body.code === "string") return { code: body.code, params: (body.params ?? {}) as EditRefusal["params"] };
  } catch {
    // not JSON: the inbox refused before quality was asked
  }
  const byStatus: Record<number, string> = { 400: "invalid", 403: "team", 404: "missing", 409: "stale" };
  return { code: byStatus[err.status] ?? "unavailable", params: {} };
}

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

  /** Set or remove a shift of the week's schedule; the new version (coverage recounted) replaces the team's. */
  async function editShift(change: Omit<ShiftEditBody, "week" | "base">): Promise<EditRefusal | null> {
    if (!team.value) return { code: "missing", params: {} };
    try {
      const answer = await request<{ schedule: Schedule }>("/api/supervisor/wfm/shifts", {
        method: "POST",
        body: { ...change, week: team.value.week, base: team.value.id } satisfies ShiftEditBody,
      });
      team.value = answer.schedule;
      return null;
    } catch (err) {
      const why = refusal(err);
      if (why.code === "stale") await loadTeam();
      return why;
    }
  }

  return { queue, week, intraday, team, mine, adherence, intradayError, teamError, mineError, loadIntraday, loadTeam, loadMine, loadAdherence, editShift };
});
