// The wallboard's formatting: waits as mm:ss (h:mm:ss past an hour), "—" for nothing measured, interval labels in the
// center's zone, the polling back-off.
import { formatIntervalStart, formatSeconds, formatShare, formatWait, nextDelay } from "../src/views/wallboard/format";

describe("wallboard formatting", () => {
  it("shows waits as mm:ss, and h:mm:ss past an hour, in both languages", () => {
    expect(formatWait(0, "en")).toBe("00:00");
    expect(formatWait(42.9, "en")).toBe("00:42"); // whole seconds elapsed, not rounded up
    expect(formatWait(541.259338855, "en")).toBe("09:01"); // the old board showed "541.259338855s"
    expect(formatWait(3599, "zh-CN")).toBe("59:59");
    expect(formatWait(3600, "en")).toBe("1:00:00");
    expect(formatWait(3725, "zh-CN")).toBe("1:02:05");
    expect(formatWait(-3, "en")).toBe("00:00");
  });

  it("shows a service level with nothing answered as a dash, never 100%", () => {
    expect(formatShare(null, "en")).toBe("—");
    expect(formatShare(undefined, "zh-CN")).toBe("—");
    expect(formatShare(Number.NaN, "en")).toBe("—");
    expect(formatShare(0, "en")).toBe("0%");
    expect(formatShare(0.5, "zh-CN")).toBe("50%");
    expect(formatShare(1, "en")).toBe("100%");
    expect(formatSeconds(null, "en")).toBe("—");
    expect(formatSeconds(20, "en")).toBe("00:20");
  });

  it("labels intervals in the center's time zone, not the browser's", () => {
    expect(formatIntervalStart("2026-03-01T16:15:00Z", "Asia/Shanghai", "en")).toBe("00:15");
    expect(formatIntervalStart("2026-03-01T16:15:00Z", "UTC", "zh-CN")).toBe("16:15");
  });

  it("backs off while the server does not answer, up to a minute", () => {
    expect(nextDelay(5, 0)).toBe(5000);
    expect(nextDelay(5, 1)).toBe(10_000);
    expect(nextDelay(5, 3)).toBe(40_000);
    expect(nextDelay(5, 10)).toBe(60_000);
    expect(nextDelay(0, 0)).toBe(1000);
  });
});
