// The merge dialog: another customer found by name (the desktop's search), confirmed, then merged by customer id.
import { flushPromises, mount } from "@vue/test-utils";
import { createPinia, setActivePinia } from "pinia";
import type { SearchResults } from "../src/api/schemas";
import { i18n } from "../src/i18n";
import { candidatesOf, useCustomersStore } from "../src/stores/customers";
import MergeForm from "../src/views/inbox/MergeForm.vue";

const hit = (customer: string, name: string, identity: string, channel = "sms") => ({
  kind: "conversation" as const, conversation_id: `cnv_${customer}`, customer_id: customer, channel, time: 1,
  customer_name: name, identity, snippet: name, highlights: [],
});
const results: SearchResults = { hits: [hit("cus_me", "李雷", "+861"), hit("cus_2", "李雷", "li@example.cn", "email"),
  hit("cus_2", "李雷", "li@example.cn", "email"), hit("cus_3", "", "+862")], next_before: null, took_ms: 1 };

describe("merge by search", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => { vi.unstubAllGlobals(); i18n.global.locale.value = "en"; });

  it("offers each other customer once", () => {
    expect(candidatesOf(results, "cus_me")).toEqual([
      { customer_id: "cus_2", name: "李雷", identity: "li@example.cn", channel: "email" },
      { customer_id: "cus_3", name: "", identity: "+862", channel: "sms" },
    ]);
  });

  it("finds by name, asks, and merges the chosen customer by id", async () => {
    const fetch = vi.fn(async (url: string) =>
      new Response(JSON.stringify(url.startsWith("/api/search") ? results : { id: "cus_me", identities: [] }), { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    useCustomersStore().customerId = "cus_me";
    i18n.global.locale.value = "zh-CN";
    const wrapper = mount(MergeForm, { global: { plugins: [i18n] } });
    await wrapper.get("#merge-search").setValue("李雷");
    await wrapper.get(".merge-find").trigger("submit");
    await flushPromises();
    expect(String(fetch.mock.calls[0]?.[0])).toBe(`/api/search?${new URLSearchParams({ q: "李雷", limit: "50" })}`);
    const found = wrapper.findAll("#merge-found button");
    expect(found.map((b) => b.text())).toEqual(["李雷 · li@example.cn（邮件）", "+862 · +862（短信）"]);
    await found[0]!.trigger("click");
    expect(wrapper.get("#merge-question").text()).toBe("将 李雷 · li@example.cn（邮件） 合并到此客户？两者的历史记录将合而为一。");
    await wrapper.get("#merge-confirm").trigger("click");
    await flushPromises();
    const post = fetch.mock.calls.find((c) => String(c[0]).endsWith("/merge")) as unknown as [string, RequestInit];
    expect(post[0]).toBe("/api/customers/cus_me/merge");
    expect(JSON.parse(String(post[1].body))).toEqual({ customer_id: "cus_2" });
    wrapper.unmount();
  });

  it("says when nobody else matches", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ hits: [], next_before: null, took_ms: 1 }), { status: 200 })));
    const wrapper = mount(MergeForm, { global: { plugins: [i18n] } });
    await wrapper.get("#merge-search").setValue("nobody");
    await wrapper.get(".merge-find").trigger("submit");
    await flushPromises();
    expect(wrapper.get("#merge-none").text()).toBe("No other customer found.");
    wrapper.unmount();
  });
});
