// The wallboard's figures as text: waits as mm:ss (h:mm:ss past an hour), "—" for what was not measured.

/** "—": a figure with nothing to measure it on (nothing answered, quality not answering). */
export const NONE = "—";

/** A wait or time in state: "00:42", "12:05", "1:02:05" (digits the same in every language). */
export function formatWait(totalSeconds: number, locale: string): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const two = new Intl.NumberFormat(locale, { minimumIntegerDigits: 2, useGrouping: false });
  const h = Math.floor(s / 3600);
  const mm = two.format(Math.floor((s % 3600) / 60));
  const ss = two.format(s % 60);
  return h > 0 ? `${new Intl.NumberFormat(locale, { useGrouping: false }).format(h)}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** A fraction as a whole percentage, or "—" when null (never 100% for nothing answered). */
export function formatShare(fraction: number | null | undefined, locale: string): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return NONE;
  return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0 }).format(fraction);
}

/** Seconds as mm:ss, or "—" when null. */
export function formatSeconds(seconds: number | null | undefined, locale: string): string {
  return seconds === null || seconds === undefined ? NONE : formatWait(seconds, locale);
}

/** An interval's start (RFC 3339) as the center's local time of day, e.g. "09:15". */
export function formatIntervalStart(iso: string, timeZone: string, locale: string): string {
  const options: Intl.DateTimeFormatOptions = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (timeZone) options.timeZone = timeZone;
  return new Intl.DateTimeFormat(locale, options).format(new Date(iso));
}

/** Milliseconds until the next poll: the configured period, doubled per failure in a row, at most a minute. */
export function nextDelay(refreshSeconds: number, failures: number): number {
  const base = Math.max(1, refreshSeconds) * 1000;
  return Math.min(60_000, base * 2 ** Math.min(failures, 6));
}

/** The page's TV mode: the URL's hash is #wallboard-tv. */
export const TV_HASH = "#wallboard-tv";
