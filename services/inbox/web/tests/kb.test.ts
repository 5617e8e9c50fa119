// The knowledge-base editor starts a new entry in the language the supervisor works in.
import { mount } from "@vue/test-utils";
import { createPinia, setActivePinia } from "pinia";
import type { KbEntry } from "../src/api/schemas";
import { i18n } from "../src/i18n";
import KbForm from "../src/views/kb/KbForm.vue";

describe("knowledge-base editor", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => {
    i18n.global.locale.value = "en";
  });

  it("writes a new entry in the UI's language, and an edited one keeps its own", () => {
    for (const [ui, expected] of [["zh-CN", "zh-CN"], ["en", "en"]] as const) {
      i18n.global.locale.value = ui;
      const fresh = mount(KbForm, { props: { entry: null }, global: { plugins: [i18n] } });
      expect((fresh.get("#kb-form-language").element as HTMLSelectElement).value).toBe(expected);
      fresh.unmount();
    }
    i18n.global.locale.value = "zh-CN";
    const entry: KbEntry = { _id: "kb_1", kind: "article", title: "Delivery", body: "24 h", category: "", language: "en", shortcut: "" };
    const edited = mount(KbForm, { props: { entry }, global: { plugins: [i18n] } });
    expect((edited.get("#kb-form-language").element as HTMLSelectElement).value).toBe("en");
    edited.unmount();
  });
});
