// The call of the open voice conversation: its state from the voice service, the controls, and who else is on it.
import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, request, seg } from "../api/http";
import type { CallControlBody, CallView } from "../api/schemas";
import type { VoiceToken } from "../views/call/softphone";

export type CallAction =
  | "hangup"
  | "hold"
  | "resume"
  | "transfer"
  | "consult"
  | "complete"
  | "cancel"
  | "dtmf"
  | "recording-pause"
  | "recording-resume";
export type SupervisorMode = "listen" | "coach" | "barge" | "leave";

export interface CallNotice {
  conversation_id: string;
  action: string;
  actor_id: string;
  actor_role: string;
  target: string;
  call: CallView;
}

export const useCallsStore = defineStore("calls", () => {
  const call = ref<CallView | null>(null);
  const since = ref(Date.now() / 1000); // when the current call was first seen connected (the timer's start)
  const busy = ref(false);
  const error = ref(""); // the server's message, shown as is
  // phone: calls ring the agent's configured phone (no Twilio here, or the SDK could not register)
  const softphone = ref<"unknown" | "phone" | "registering" | "registered">("unknown");
  const openId = ref(""); // the conversation whose call is shown

  function show(view: CallView): void {
    if (call.value?.conversation_id !== view.conversation_id) since.value = Date.now() / 1000;
    call.value = view;
  }

  /** Load the call of a voice conversation. */
  async function load(conversationId: string): Promise<void> {
    openId.value = conversationId;
    error.value = "";
    try {
      show(await request<CallView>(`/api/calls/${seg(conversationId)}`));
    } catch (e) {
      call.value = null; // 404: not in a conference yet; the socket tells us when it is
      if (!(e instanceof ApiError && e.status === 404)) error.value = e instanceof ApiError ? e.message : String(e);
    }
  }

  /** Carry out a control on my call; false (with the reason in `error`) when refused. */
  async function act(conversationId: string, action: CallAction, body: CallControlBody = {}): Promise<boolean> {
    busy.value = true;
    error.value = "";
    try {
      show(await request<CallView>(`/api/calls/${seg(conversationId)}/${action}`, { method: "POST", body }));
      return true;
    } catch (e) {
      error.value = e instanceof ApiError ? e.message : String(e);
      return false;
    } finally {
      busy.value = false;
    }
  }

  /** A supervisor's intervention on a live call. */
  async function supervise(conversationId: string, mode: SupervisorMode, destination = ""): Promise<boolean> {
    busy.value = true;
    error.value = "";
    try {
      show(await request<CallView>(`/api/supervisor/calls/${seg(conversationId)}/${mode}`, { method: "POST", body: { destination } }));
      return true;
    } catch (e) {
      error.value = e instanceof ApiError ? e.message : String(e);
      return false;
    } finally {
      busy.value = false;
    }
  }

  /** A call.controlled event from the socket: the call as it is now (a supervisor joined, a transfer...). */
  function onNotice(notice: CallNotice): void {
    if (openId.value === notice.conversation_id) {
      error.value = "";
      show(notice.call);
    }
  }

  /** Register the browser softphone where Twilio is configured (the SDK chunk loads only then); otherwise, or
   *  when it cannot register, calls ring the agent's configured phone. */
  async function checkSoftphone(): Promise<void> {
    if (softphone.value !== "unknown") return;
    let token: VoiceToken;
    try {
      token = await request<VoiceToken>("/api/voice/token");
    } catch {
      softphone.value = "phone";
      return;
    }
    softphone.value = "registering";
    try {
      const { register } = await import("../views/call/softphone");
      await register(token.token);
      softphone.value = "registered";
    } catch {
      softphone.value = "phone";
    }
  }

  return { call, since, busy, error, softphone, load, act, supervise, onNotice, checkSoftphone };
});
