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
