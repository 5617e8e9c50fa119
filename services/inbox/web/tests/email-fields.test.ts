// The email fields: a reply-all's Cc from the customer's mail, and the quote's attribution line in the agent's language.
import { mount } from "@vue/test-utils";
import { createPinia, setActivePinia } from "pinia";
import { defineComponent, h, ref } from "vue";
import type { Conversation, Message } from "../src/api/types";
import { i18n } from "../src/i18n";
import { useConversationsStore } from "../src/stores/conversations";
import EmailFields from "../src/views/inbox/EmailFields.vue";
import { quotedSender, replyAllCc } from "../src/views/inbox/email";

const mail: Message = {
  _id: "m1", conversation_id: "cnv_1", channel: "email", direction: "incoming", text: "在吗？\n订单 77",
  time: Date.UTC(2026, 11, 3, 9, 5) / 1000, reply_all_cc: ["wang@example.cn", "zhang@example.cn"],
};
const conversation = { id: "cnv_1", channel: "CHANNEL_EMAIL", customer_display_name: "李雷",
  identity: { source_id: "li@example.cn" } } as unknown as Conversation;

describe("email fields", () => {
  beforeEach(() => setActivePinia(createPinia()));
  afterEach(() => { i18n.global.locale.value = "en"; });

  it("names the sender and joins the other recipients", () => {
    expect(quotedSender("李雷", "li@example.cn")).toBe("李雷 <li@example.cn>");
    expect(quotedSender("li@example.cn", "li@example.cn")).toBe("li@example.cn");
    expect(replyAllCc(mail)).toBe("wang@example.cn, zhang@example.cn");
    expect(replyAllCc(undefined)).toBe("");
  });

  it("starts Cc with the mail's other recipients and words the quote line in the UI language", async () => {
    useConversationsStore().messages = [mail];
    const cc = ref("");
    const header = ref("");
    const Host = defineComponent(() => () =>
      h(EmailFields, { conversation, subject: "", cc: cc.value, "onUpdate:cc": (v: string) => (cc.value = v),
        quote: true, header: header.value, "onUpdate:header": (v: string) => (header.value = v) }));
    i18n.global.locale.value = "zh-CN";
    const wrapper = mount(Host, { global: { plugins: [i18n] } });
    await wrapper.vm.$nextTick();
    expect(cc.value).toBe("wang@example.cn, zhang@example.cn");
    expect(wrapper.get("#cc-hint").text()).toBe("全部回复：抄送已填入客户邮件的其他收件人。");
    const zhDate = new Intl.DateTimeFormat("zh-CN", { dateStyle: "medium", timeStyle: "short" }).format(mail.time * 1000);
    expect(header.value).toBe(`李雷 <li@example.cn> 于 ${zhDate} 写道：`);
    expect(wrapper.get("#quoted").text()).toContain(header.value);
    i18n.global.locale.value = "en";
    await wrapper.vm.$nextTick();
    const enDate = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short" }).format(mail.time * 1000);
    expect(header.value).toBe(`On ${enDate}, 李雷 <li@example.cn> wrote:`);
    expect(wrapper.get("#reply-all").attributes("aria-pressed")).toBe("true");
    await wrapper.get("#reply-sender").trigger("click"); // the sender alone
    expect(cc.value).toBe("");
    expect(wrapper.get("#reply-sender").attributes("aria-pressed")).toBe("true");
    expect(wrapper.get("#cc-hint").text()).toBe("More addresses that get a copy, separated by commas.");
    await wrapper.get("#reply-all").trigger("click"); // everyone again
    expect(cc.value).toBe("wang@example.cn, zhang@example.cn");
    expect(wrapper.get("#reply-all").attributes("aria-pressed")).toBe("true");
    wrapper.unmount();
  });

  it("offers no reply-all when the mail had no other recipients", async () => {
    useConversationsStore().messages = [{ ...mail, reply_all_cc: [] }];
    const wrapper = mount(EmailFields, { props: { conversation, subject: "", cc: "", quote: false },
      global: { plugins: [i18n] } });
    await wrapper.vm.$nextTick();
    expect(wrapper.find("#reply-all").exists()).toBe(false);
    wrapper.unmount();
  });
});
