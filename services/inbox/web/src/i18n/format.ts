// Dates, numbers, percentages and durations through Intl, in the chosen language.

// Intl formatters are costly to make (locale resolution) and cheap to reuse: one per (kind, locale, options).
const formatters = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat | Intl.ListFormat>();
let made = 0;

function cached<T extends Intl.DateTimeFormat | Intl.NumberFormat | Intl.ListFormat>(
  kind: string,
  locale: string,
  options: object,
  make: () => T,
): T {
  const key = `${kind}\u0000${locale}\u0000${JSON.stringify(options)}`;
  let formatter = formatters.get(key) as T | undefined;
  if (formatter === undefined) {
    formatter = make();
    made += 1;
    formatters.set(key, formatter);
  }
  return formatter;
}

/** How many formatters were made so far (tests). */
export function formatterCount(): number {
  return made;
}

function dateFormat(locale: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  return cached("date", locale, options, () => new Intl.DateTimeFormat(locale, options));
}

function numberFormat(locale: string, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  return cached("number", locale, options, () => new Intl.NumberFormat(locale, options));
}

/** A date and time, e.g. "3 Dec 2026, 14:05" or "2026年12月3日 14:05". */
export function formatDateTime(epochSeconds: number, locale: string): string {
  return dateFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(epochSeconds * 1000);
}

/** A time of day. */
export function formatTime(epochSeconds: number, locale: string): string {
  return dateFormat(locale, { timeStyle: "short" }).format(epochSeconds * 1000);
}

/** A calendar day, for day separators. */
export function formatDay(epochSeconds: number, locale: string): string {
  return dateFormat(locale, { dateStyle: "full" }).format(epochSeconds * 1000);
}

/** A short day label for chart axes. */
export function formatShortDay(epochSeconds: number, locale: string): string {
  return dateFormat(locale, { month: "short", day: "numeric" }).format(epochSeconds * 1000);
}

/** An hour label for chart axes. */
export function formatHour(epochSeconds: number, locale: string): string {
  return dateFormat(locale, { hour: "numeric", minute: "2-digit" }).format(epochSeconds * 1000);
}

/** A plain number. */
export function formatNumber(value: number, locale: string): string {
  return numberFormat(locale, { maximumFractionDigits: 1 }).format(value);
}

/** A fraction as a percentage (0.8 → "80%"). */
export function formatPercent(fraction: number, locale: string): string {
  return numberFormat(locale, { style: "percent", maximumFractionDigits: 0 }).format(fraction);
}

/** A duration in words of the language: "1 hr 5 min", "45 sec", "1小时5分钟". */
export function formatDuration(totalSeconds: number, locale: string): string {
  const s = Math.max(0, Math.round(totalSeconds));
  const parts: [number, "hour" | "minute" | "second"][] = [
    [Math.floor(s / 3600), "hour"],
    [Math.floor((s % 3600) / 60), "minute"],
    [s % 60, "second"],
  ];
  const shown = parts.filter(([n]) => n > 0).slice(0, 2);
  if (shown.length === 0) shown.push([0, "second"]);
  const list = shown.map(([n, unit]) =>
    numberFormat(locale, { style: "unit", unit, unitDisplay: "short" }).format(n),
  );
  const options: Intl.ListFormatOptions = { style: "narrow", type: "unit" };
  return cached("list", locale, options, () => new Intl.ListFormat(locale, options)).format(list);
}

/** A countdown clock, "m:ss" (digits read the same in every language). */
export function formatClock(totalSeconds: number, locale: string): string {
  const s = Math.max(0, Math.round(totalSeconds));
  const two = numberFormat(locale, { minimumIntegerDigits: 2, useGrouping: false });
  return `${numberFormat(locale, { useGrouping: false }).format(Math.floor(s / 60))}:${two.format(s % 60)}`;
}
