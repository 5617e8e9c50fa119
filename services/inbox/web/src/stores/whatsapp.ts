// WhatsApp in the composer: the approved templates and whether the customer's 24-hour window is still open.
import { defineStore } from "pinia";
import { computed, ref } from "vue";
import { ApiError, request, seg } from "../api/http";
import type { ReplyBody, WhatsAppComposer } from "../api/schemas";
import { useClockStore } from "./clock";
import { useConversationsStore } from "./conversations";

export const useWhatsAppStore = defineStore("whatsapp", () => {
  const info = ref<WhatsAppComposer | null>(null);
  const conversationId = ref("");
  const error = ref("");
  const clock = useClockStore();

  /** Free text may be sent: the customer wrote within the last 24 hours. */
  const windowOpen = computed(() => {
    const closes = info.value?.window_closes_at;
    return Boolean(info.value?.window_open) && closes != null && clock.now < closes;
  });
  /** Only a template can go out now (known once loaded, so a slow answer never blocks a reply). */
  const templateOnly = computed(() => info.value !== null && !windowOpen.value);

  /** Load the templates and the window for a WhatsApp conversation. */
  async function load(id: string): Promise<void> {
    conversationId.value = id;
    info.value = null;
    error.value = "";
    try {
      const data = await request<WhatsAppComposer>(`/api/conversations/${seg(id)}/whatsapp`);
      if (conversationId.value === id) info.value = data;
    } catch (e) {
      error.value = e instanceof ApiError ? e.message : String(e);
    }
  }

  /** Send an approved template with its numbered variables ("1", "2", ...) as the reply (no free text). */
  async function send(sid: string, values: string[]): Promise<boolean> {
    const id = useConversationsStore().currentId;
    if (!id) return false;
    const body: ReplyBody = { template_id: sid, template_variables: Object.fromEntries(values.map((v, i) => [String(i + 1), v])) };
    error.value = "";
    try {
      await request(`/api/conversations/${seg(id)}/reply`, { method: "POST", body });
      return true;
    } catch (e) {
      error.value = e instanceof ApiError ? e.message : String(e);
      return false;
    }
  }

  return { info, error, windowOpen, templateOnly, load, send };
});
