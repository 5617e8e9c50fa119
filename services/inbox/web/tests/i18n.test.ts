// Message and Intl formatters are made once and reused: t() and the list's durations on every render cost nothing more.
import { compiledCount, i18n } from "../src/i18n";
import { formatDuration, formatterCount } from "../src/i18n/format";

describe("formatter caches", () => {
  it("parses each ICU message once per language", () => {
    const t = i18n.global.t;
    const first = t("inbox.unread", { count: 2 });
    const made = compiledCount();
    expect(made).toBeGreaterThan(0);
    for (let i = 0; i < 50; i++) expect(t("inbox.unread", { count: 2 })).toBe(first);
    expect(t("inbox.unread", { count: 3 })).not.toBe(first); // the values still change the text
    expect(compiledCount()).toBe(made);
  });

  it("makes each Intl formatter once per language and options", () => {
    expect(formatDuration(3_725, "en")).toBe(formatDuration(3_725, "en"));
    const made = formatterCount();
    for (let s = 0; s < 200; s++) formatDuration(s * 37, "en");
    expect(formatterCount()).toBe(made + 1); // seconds were not shown for 3,725 s (1 hr 2 min): one more unit
    expect(formatDuration(65, "zh-CN")).not.toBe(formatDuration(65, "en"));
  });
});

describe("counts in sentences", () => {
  it("says one shift, one agent, one day and one hour in English, and counts in Chinese without plural forms", () => {
    const t = i18n.global.t;
    i18n.global.locale.value = "en";
    expect(t("wfm.coverageSummary", { covered: 100, hours: 6, shifts: 1 }))
      .toBe("100% of the intervals that need agents are covered; 6 agent-hours in 1 shift");
    expect(t("wfm.coverageSummary", { covered: 95, hours: 1, shifts: 2 }))
      .toBe("95% of the intervals that need agents are covered; 1 agent-hour in 2 shifts");
    expect(t("live.waitingMeta", { waited: "0:02", position: 1, step: 0, skills: "support ≥ 1", count: 1 }))
      .toBe("Waited 0:02 · position 1 · step 0 · needs support ≥ 1 · 1 agent with the skills");
    expect(t("privacy.days", { n: 1 })).toBe("1 day");
    expect(t("privacy.days", { n: 30 })).toBe("30 days");
    expect(t("wfm.errRest", { agent: "dan", hours: 1, date: "2026-12-07", limit: 11 }))
      .toBe("dan would rest only 1 hour beside the shift of 2026-12-07; the plan asks for at least 11.");
    i18n.global.locale.value = "zh-CN";
    expect(t("wfm.coverageSummary", { covered: 100, hours: 6, shifts: 1 })).toBe("需要坐席的时段中有 100% 已覆盖；1 个班次共 6 坐席小时");
    i18n.global.locale.value = "en";
  });
});
