// Report windows in the center's local time: presets, custom days as [from, to), and how a window reads on screen.

export const PRESETS = ["today", "yesterday", "week", "last_week", "month", "last_month", "custom"] as const;
export type Preset = (typeof PRESETS)[number];
export const GROUPINGS = ["queue", "agent", "channel", "interval", "day", "month"] as const;
export type Grouping = (typeof GROUPINGS)[number];

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A calendar day "YYYY-MM-DD" moved by `days` (pure calendar arithmetic: no time zone, no DST). */
export function addDays(day: string, days: number): string {
  const [y, m, d] = day.split("-").map(Number);
  const date = new Date(Date.UTC(y ?? 1970, (m ?? 1) - 1, (d ?? 1) + days));
  return date.toISOString().slice(0, 10);
}

/** The query of a window: a named period, or custom days from `first` to `last` inclusive as [first 00:00, last+1 00:00)
 *  in the center's local time (no offset: the server reads it in the center's zone). Null when the days are not valid. */
export function windowParams(preset: Preset, first: string, last: string): Record<string, string> | null {
  if (preset !== "custom") return { period: preset };
  if (!DAY.test(first) || !DAY.test(last) || last < first) return null;
  return { from: `${first}T00:00:00`, to: `${addDays(last, 1)}T00:00:00` };
}

/** The local calendar day of an ISO 8601 time with the center's offset ("2026-12-03T00:00:00+08:00" → "2026-12-03"). */
export function localDay(iso: string): string {
  return iso.slice(0, 10);
}

/** Whether an ISO 8601 local time is a local midnight. */
export function atMidnight(iso: string): boolean {
  return /T00:00(:00(\.0+)?)?([+-]|Z|$)/.test(iso);
}

/** The first and last local day a [from, to) window covers, when it is made of whole days (to is a midnight, excluded). */
export function days(from: string, to: string): { first: string; last: string } | null {
  if (!atMidnight(from) || !atMidnight(to)) return null;
  return { first: localDay(from), last: addDays(localDay(to), -1) };
}

/** A window as people read it: whole days inclusive ("1 – 7 Dec 2026", never an extra day), else both times. */
export function formatWindow(from: string, to: string, timeZone: string, locale: string): string {
  const whole = days(from, to);
  if (whole) {
    // noon UTC of each local day names that day in any zone's calendar without crossing a date line
    const fmt = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" });
    const a = Date.parse(`${whole.first}T12:00:00Z`);
    const b = Date.parse(`${whole.last}T12:00:00Z`);
    return whole.first === whole.last ? fmt.format(a) : fmt.formatRange(a, b);
  }
  const fmt = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone });
  return fmt.formatRange(Date.parse(from), Date.parse(to));
}

/** A time group's key (local ISO 8601 with offset) as a label: time of day, day or month in the center's zone. */
export function formatKey(key: string, grouping: Grouping, timeZone: string, locale: string, manyDays: boolean): string {
  const at = Date.parse(key);
  if (Number.isNaN(at)) return key;
  const options: Intl.DateTimeFormatOptions =
    grouping === "month"
      ? { year: "numeric", month: "long" }
      : grouping === "day"
        ? { dateStyle: "medium" }
        : manyDays
          ? { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" }
          : { hour: "numeric", minute: "2-digit" };
  return new Intl.DateTimeFormat(locale, { ...options, timeZone }).format(at);
}

/** Catalogue keys, written out in full (the catalogue test finds every key used). */
export const PRESET_LABELS: Record<Preset, string> = {
  today: "reports.preset.today",
  yesterday: "reports.preset.yesterday",
  week: "reports.preset.week",
  last_week: "reports.preset.last_week",
  month: "reports.preset.month",
  last_month: "reports.preset.last_month",
  custom: "reports.preset.custom",
};
export const GROUPING_LABELS: Record<Grouping, string> = {
  queue: "reports.grouping.queue",
  agent: "reports.grouping.agent",
  channel: "reports.grouping.channel",
  interval: "reports.grouping.interval",
  day: "reports.grouping.day",
  month: "reports.grouping.month",
};
