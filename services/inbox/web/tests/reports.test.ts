// Report windows: custom days as [from, to), no extra day on screen, local time keys, the store's export link.
import { createPinia, setActivePinia } from "pinia";
import { useReportsStore } from "../src/stores/reports";
import { addDays, days, formatKey, formatWindow, windowParams } from "../src/views/reports/range";
import type { Report } from "../src/api/schemas";
import { COLUMNS, columnsOf, shown } from "../src/views/reports/figures";

describe("report windows", () => {
  it("sends presets by name and custom days as [first 00:00, last + 1 00:00) in the center's time", () => {
    expect(windowParams("week", "", "")).toEqual({ period: "week" });
    expect(windowParams("custom", "2026-12-01", "2026-12-07")).toEqual({ from: "2026-12-01T00:00:00", to: "2026-12-08T00:00:00" });
    expect(windowParams("custom", "2026-02-28", "2026-02-28")).toEqual({ from: "2026-02-28T00:00:00", to: "2026-03-01T00:00:00" });
    expect(windowParams("custom", "2026-12-07", "2026-12-01")).toBeNull();
    expect(windowParams("custom", "", "2026-12-01")).toBeNull();
    expect(addDays("2026-12-31", 1)).toBe("2027-01-01");
  });

  it("shows a window ending at midnight without the extra day, DST days included", () => {
    expect(days("2026-12-01T00:00:00+08:00", "2026-12-08T00:00:00+08:00")).toEqual({ first: "2026-12-01", last: "2026-12-07" });
    expect(formatWindow("2026-12-03T00:00:00+08:00", "2026-12-04T00:00:00+08:00", "Asia/Shanghai", "en")).toBe("Dec 3, 2026");
    expect(formatWindow("2026-12-01T00:00:00+08:00", "2026-12-08T00:00:00+08:00", "Asia/Shanghai", "en")).toMatch(/^Dec 1\s–\s7, 2026$/u);
    // Berlin's 23-hour day: still one day
    expect(formatWindow("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", "Europe/Berlin", "en")).toBe("Mar 29, 2026");
    expect(formatWindow("2026-12-01T00:00:00+08:00", "2026-12-08T00:00:00+08:00", "Asia/Shanghai", "zh-CN")).toMatch(/12\/1\s–\s.*12\/7$/u);
  });

  it("labels time groups in the center's zone, not the browser's", () => {
    expect(formatKey("2026-12-03T00:15:00+08:00", "interval", "Asia/Shanghai", "en-GB", false)).toBe("0:15");
    expect(formatKey("2026-12-01T00:00:00+08:00", "month", "Asia/Shanghai", "en", false)).toBe("December 2026");
  });

  it("shows null figures as a dash and ratios as percentages", () => {
    const row = { key: "sales", offered: 1, answered: 0, service_level_a: null, abandonment_rate: 1 };
    const col = (k: string) => COLUMNS.find((c) => c.key === k)!;
    expect(shown(row, "service_level_a", col("service_level_a").kind, "en")).toBe("—");
    expect(shown(row, "asa", col("asa").kind, "en")).toBe("—");
    expect(shown(row, "abandonment_rate", col("abandonment_rate").kind, "en")).toBe("100%");
    expect(shown({ key: "x", service_level_a: 0.3333 }, "service_level_a", "percent", "en")).toBe("33.3%");
  });

  it("shows schedule adherence and conformance only where the report is about agents", () => {
    const report: Report = { from: "", to: "", time_zone: "UTC", group_by: "queue", interval: "1h", rows: [], total: { key: "total" } };
    const keys = (r: Report) => columnsOf(r).map((c) => c.key);
    expect(keys(report)).not.toContain("adherence");
    expect(keys({ ...report, group_by: "agent" }).slice(-2)).toEqual(["adherence", "conformance"]);
    expect(keys({ ...report, total: { key: "total", adherence: 0.9667 } })).toContain("conformance");
    expect(shown({ key: "alice", adherence: 0.9667 }, "adherence", "percent", "zh-CN")).toBe("96.7%");
  });

  it("exports exactly the window on screen, with its offsets", () => {
    setActivePinia(createPinia());
    const store = useReportsStore();
    expect(store.exportHref("csv", "en")).toBe("");
    store.report = { from: "2026-12-03T00:00:00+08:00", to: "2026-12-04T00:00:00+08:00", time_zone: "Asia/Shanghai",
      group_by: "queue", interval: "15m", rows: [], total: { key: "total" } };
    const url = new URL(store.exportHref("xlsx", "zh-CN"), "http://x");
    expect(url.pathname).toBe("/api/supervisor/reports/export");
    expect(Object.fromEntries(url.searchParams)).toEqual({ from: "2026-12-03T00:00:00+08:00", to: "2026-12-04T00:00:00+08:00",
      group_by: "queue", interval: "15m", format: "xlsx", lang: "zh-CN" });
  });
});
