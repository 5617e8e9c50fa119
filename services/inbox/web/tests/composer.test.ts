// The composer's helpers: the `/` query and insertion, the canned lookup order, the Cc field, and the suggestion list by keyboard.
import { flushPromises, mount } from "@vue/test-utils";
import { createPinia, setActivePinia } from "pinia";
import { defineComponent, h, ref } from "vue";
import type { KbDoc } from "../src/api/types";
import { i18n } from "../src/i18n";
import { insertCanned, slashQuery, useCannedStore } from "../src/stores/canned";
import CannedSuggest from "../src/views/inbox/CannedSuggest.vue";
import { lastIncoming, parseCc } from "../src/views/inbox/email";

const doc = (id: string, shortcut: string, body = `${id} body`): KbDoc => ({ _id: id, title: id, body, kind: "canned", shortcut });

describe("slash query and insertion", () => {
  it("finds the /word the caret is in, only at the start or after a space", () => {
    expect(slashQuery("/gre", 4)).toBe("gre");
    expect(slashQuery("Hello /", 7)).toBe("");
    expect(slashQuery("Hello /退款", 9)).toBe("退款");
    expect(slashQuery("see http://x", 12)).toBeNull();
    expect(slashQuery("and/or", 6)).toBeNull();
    expect(slashQuery("/greet then", 11)).toBeNull(); // the caret left the word
  });

  it("replaces the /word before the caret and keeps what follows", () => {
    expect(insertCanned("Hi /gr there", 6, "Good morning!")).toEqual({ text: "Hi Good morning! there", caret: 16 });
    expect(insertCanned("/", 1, "X")).toEqual({ text: "X", caret: 1 });
  });
});

describe("canned store", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => vi.unstubAllGlobals());

  it("asks by shortcut in the agent's language, then any language, then by words", async () => {
    const asked: string[] = [];
    vi.stubGlobal("fetch", async (path: string) => {
      asked.push(path);
      const found = path.includes("q=refund") ? [doc("r", "money")] : [];
      return new Response(JSON.stringify(found));
    });
    const canned = useCannedStore();
    await canned.lookup("Refund", "zh-CN");
    expect(asked).toEqual([
      "/api/kb?kind=canned&limit=8&shortcut=refund&language=zh-CN",
      "/api/kb?kind=canned&limit=8&shortcut=refund",
      "/api/kb?kind=canned&limit=8&q=refund",
    ]);
    expect(canned.results.map((d) => d._id)).toEqual(["r"]);
    asked.length = 0;
    await canned.lookup("退款", "zh-CN"); // not a shortcut's letters: by words at once
    expect(asked).toEqual([`/api/kb?kind=canned&limit=8&q=${encodeURIComponent("退款")}`]);
  });
});

describe("email fields", () => {
  it("splits the Cc field into addresses (once each) and what is not one", () => {
    expect(parseCc(" boss@example.cn, li@example.cn;BOSS@example.cn  x@y Li Lei <a@b.c>")).toEqual({
      addresses: ["boss@example.cn", "li@example.cn"],
      invalid: ["x@y", "Li", "Lei", "<a@b.c>"],
    });
    expect(parseCc("")).toEqual({ addresses: [], invalid: [] });
  });

  it("quotes the customer's latest message of this conversation", () => {
    const m = (id: string, conversation: string, direction: string, time: number) =>
      ({ _id: id, conversation_id: conversation, channel: "email", direction, text: id, time });
    const history = [m("a", "c1", "incoming", 1), m("b", "c1", "incoming", 2), m("c", "c1", "outgoing", 3), m("d", "c0", "incoming", 4)];
    expect(lastIncoming(history, "c1")?._id).toBe("b");
    expect(lastIncoming(history, "c9")).toBeUndefined();
  });
});

describe("CannedSuggest", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => {
    vi.unstubAllGlobals();
    document.body.innerHTML = "";
  });

  it("opens on /, moves with the arrow keys, inserts with Enter and closes with Escape", async () => {
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify([doc("Greeting", "greet", "Hello!"), doc("Goodbye", "gone", "Bye!")])));
    vi.stubGlobal("requestAnimationFrame", (f: FrameRequestCallback) => f(0));
    const text = ref("");
    const Host = defineComponent(() => () => [
      h("textarea", { id: "reply", value: text.value, onInput: (e: Event) => (text.value = (e.target as HTMLTextAreaElement).value) }),
      h(CannedSuggest, { target: "reply", modelValue: text.value, "onUpdate:modelValue": (v: string) => (text.value = v) }),
    ]);
    const wrapper = mount(Host, { attachTo: document.body, global: { plugins: [i18n] } });
    const area = wrapper.get("textarea");
    const el = area.element as HTMLTextAreaElement;
    el.value = "Hi /g";
    el.setSelectionRange(5, 5);
    await area.trigger("input");
    await flushPromises();
    const options = () => wrapper.findAll("[role=option]");
    expect(options().map((o) => o.attributes("aria-selected"))).toEqual(["true", "false"]);
    expect(el.getAttribute("aria-activedescendant")).toBe("canned-option-0");
    await area.trigger("keydown", { key: "ArrowDown" });
    expect(options().map((o) => o.attributes("aria-selected"))).toEqual(["false", "true"]);
    await area.trigger("keydown", { key: "ArrowDown" }); // wraps round
    await area.trigger("keydown", { key: "ArrowUp" });
    await area.trigger("keydown", { key: "Enter" });
    await flushPromises();
    expect(text.value).toBe("Hi Bye!");
    expect(wrapper.get("#canned-list").isVisible()).toBe(false);

    el.value = "/";
    el.setSelectionRange(1, 1);
    await area.trigger("input");
    await flushPromises();
    expect(wrapper.get("#canned-list").isVisible()).toBe(true);
    await area.trigger("keydown", { key: "Escape" });
    expect(wrapper.get("#canned-list").isVisible()).toBe(false);
    expect(text.value).toBe("/"); // Escape leaves the text as typed
    wrapper.unmount();
  });
});
