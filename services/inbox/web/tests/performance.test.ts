// My performance keeps itself current while it is open and in view: an agent leaves it open through a shift.
import { mount } from "@vue/test-utils";
import { createPinia, setActivePinia } from "pinia";
import { i18n } from "../src/i18n";
import { REFRESH_MS, usePerformanceStore } from "../src/stores/performance";
import PerformanceView from "../src/views/performance/PerformanceView.vue";

const ANSWER = { available: true, time_zone: "UTC", periods: {}, trend: [] };

describe("my performance", () => {
  let asked: string[];
  let visibility: DocumentVisibilityState;

  beforeEach(() => {
    setActivePinia(createPinia());
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-12-04T09:30:00Z"));
    asked = [];
    visibility = "visible";
    vi.spyOn(document, "visibilityState", "get").mockImplementation(() => visibility);
    vi.stubGlobal("fetch", async (path: string) => {
      asked.push(path);
      return new Response(JSON.stringify(path === "/api/kpis/me" ? ANSWER : []), { status: 200 });
    });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  const kpiAsks = (): number => asked.filter((p) => p === "/api/kpis/me").length;

  it("asks again every minute while in view, not while hidden, and never after it is closed", async () => {
    const perf = usePerformanceStore();
    perf.keepFresh();
    await vi.advanceTimersByTimeAsync(0);
    expect(kpiAsks()).toBe(1);
    expect(perf.loadedAt).toBe(Date.parse("2026-12-04T09:30:00Z") / 1000);
    await vi.advanceTimersByTimeAsync(REFRESH_MS);
    expect(kpiAsks()).toBe(2);
    expect(perf.loadedAt).toBe(Date.parse("2026-12-04T09:31:00Z") / 1000);
    visibility = "hidden"; // another tab: nothing asked
    await vi.advanceTimersByTimeAsync(3 * REFRESH_MS);
    expect(kpiAsks()).toBe(2);
    visibility = "visible";
    await vi.advanceTimersByTimeAsync(REFRESH_MS);
    expect(kpiAsks()).toBe(3);
    perf.stopRefreshing();
    await vi.advanceTimersByTimeAsync(5 * REFRESH_MS);
    expect(kpiAsks()).toBe(3);
  });

  it("says when its figures were read, in either language, and stops asking once the view is gone", async () => {
    const wrapper = mount(PerformanceView, { global: { plugins: [i18n], stubs: { EvaluationList: true } } });
    i18n.global.locale.value = "en";
    await vi.advanceTimersByTimeAsync(0);
    expect(wrapper.get("#perf-updated").text()).toMatch(/^Updated at \d{1,2}:30 [AP]M; refreshed every minute\.$/);
    i18n.global.locale.value = "zh-CN";
    await wrapper.vm.$nextTick();
    expect(wrapper.get("#perf-updated").text()).toMatch(/^更新于 \d{1,2}:30，每分钟刷新。$/);
    i18n.global.locale.value = "en";
    wrapper.unmount();
    const before = kpiAsks();
    await vi.advanceTimersByTimeAsync(2 * REFRESH_MS);
    expect(kpiAsks()).toBe(before);
  });
});
