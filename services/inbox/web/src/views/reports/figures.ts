// The report's columns and how each figure reads on screen (Intl in the chosen language; null reads "—").
import type { Report, ReportRow } from "../../api/schemas";
import { formatDuration, formatNumber } from "../../i18n/format";

export type Figure =
  | "offered"
  | "answered"
  | "abandoned"
  | "service_level_a"
  | "service_level_b"
  | "asa"
  | "aht"
  | "abandonment_rate"
  | "occupancy"
  | "csat"
  | "nps"
  | "fcr"
  | "adherence"
  | "conformance";
type Kind = "count" | "percent" | "duration" | "score";

/** Every KPI column of the table, in order, with its catalogue key and kind. */
export const COLUMNS: { key: Figure; label: string; kind: Kind }[] = [
  { key: "offered", label: "reports.offered", kind: "count" },
  { key: "answered", label: "reports.answered", kind: "count" },
  { key: "abandoned", label: "reports.abandoned", kind: "count" },
  { key: "service_level_a", label: "reports.serviceLevelA", kind: "percent" },
  { key: "service_level_b", label: "reports.serviceLevelB", kind: "percent" },
  { key: "asa", label: "reports.asa", kind: "duration" },
  { key: "aht", label: "reports.aht", kind: "duration" },
  { key: "abandonment_rate", label: "reports.abandonment", kind: "percent" },
  { key: "occupancy", label: "reports.occupancy", kind: "percent" },
  { key: "csat", label: "reports.csat", kind: "percent" },
  { key: "nps", label: "reports.nps", kind: "score" },
  { key: "fcr", label: "reports.fcr", kind: "percent" },
];

/** Schedule adherence and conformance: per agent, so only where the report is about agents. */
export const SCHEDULE_COLUMNS: { key: Figure; label: string; kind: Kind }[] = [
  { key: "adherence", label: "wfm.adherence", kind: "percent" },
  { key: "conformance", label: "wfm.conformance", kind: "percent" },
];

/** The columns of a report: the schedule's when it is grouped by agent or is one agent's. */
export function columnsOf(report: Report): { key: Figure; label: string; kind: Kind }[] {
  const perAgent = report.group_by === "agent" || typeof report.total.adherence === "number";
  return perAgent ? [...COLUMNS, ...SCHEDULE_COLUMNS] : COLUMNS;
}

export const NONE = "—";

/** The raw figure (as the API and the exports hold it), or null when there is nothing to measure. */
export function raw(row: ReportRow, key: Figure): number | null {
  const v = row[key];
  return typeof v === "number" ? v : null;
}

/** A figure as shown: counts and scores as numbers, ratios as percentages to 0.1, times in words; null as "—". */
export function shown(row: ReportRow, key: Figure, kind: Kind, locale: string): string {
  const v = raw(row, key);
  if (v === null) return NONE;
  if (kind === "percent")
    return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(v);
  if (kind === "duration") return formatDuration(v, locale);
  return formatNumber(v, locale);
}
