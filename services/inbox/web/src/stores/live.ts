// The one socket (/ws/agent): reconnects with back-off, catches up on reconnect, dispatches to the stores.
import { defineStore } from "pinia";
import { ref } from "vue";
import type { Agent, Conversation, Message, Offer } from "../api/types";
import { useAgentStore } from "./agent";
import { type CallNotice, useCallsStore } from "./calls";
import { useConversationsStore } from "./conversations";
import { useCustomersStore } from "./customers";
import { type InterventionNotice, useInterventionsStore } from "./interventions";
import { useOffersStore } from "./offers";
import { useSupervisionStore } from "./supervision";
import { useWallboardStore } from "./wallboard";

export interface LiveMessage {
  type: string;
  data: unknown;
}

export const useLiveStore = defineStore("live", () => {
  const connected = ref(false);
  let socket: WebSocket | null = null;
  let backoff = 500;
  let wanted = false;
  let pinger: ReturnType<typeof setInterval> | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let wallboardWatched = false;

  /** Route one socket message to the store it concerns. */
  function dispatch(msg: LiveMessage): void {
    const agent = useAgentStore();
    const offers = useOffersStore();
    const conversations = useConversationsStore();
    switch (msg.type) {
      case "offer":
        offers.add(msg.data as Offer);
        break;
      case "offer_ended": {
        const ended = msg.data as { reservation_id: string; reason: string };
        offers.withdrawn(ended.reservation_id, ended.reason);
        break;
      }
      case "offer_withdrawn":
        offers.withdrawn(msg.data as string);
        break;
      case "assigned": {
        const conv = msg.data as Conversation;
        offers.settled(conv.id);
        conversations.upsert(conv);
        break;
      }
      case "unassigned":
        conversations.remove(msg.data as string);
        break;
      case "agent":
        agent.update(msg.data as Agent);
        break;
      case "message":
        conversations.onMessage(msg.data as Message);
        useSupervisionStore().onMessage(msg.data as Message);
        break;
      case "status":
        conversations.onStatus(msg.data as { id: string; status: string; error?: string });
        break;
      case "visitor_typing":
        conversations.onTyping(msg.data as { conversation_id: string; typing: boolean });
        break;
      case "customer_merged": {
        const merged = msg.data as { customer_id: string; merged_customer_id: string };
        const customer = conversations.current?.customer_id;
        if (conversations.currentId && (customer === merged.customer_id || customer === merged.merged_customer_id)) {
          void conversations.open(conversations.currentId);
          void useCustomersStore().load(merged.customer_id);
        }
        break;
      }
      case "call":
        useCallsStore().onNotice(msg.data as CallNotice);
        break;
      case "supervisor":
        useInterventionsStore().onNotice(msg.data as InterventionNotice);
        break;
      case "event":
        void conversations.refresh();
        useSupervisionStore().changed((msg.data as { conversation_id?: string }).conversation_id);
        if (wallboardWatched) void useWallboardStore().load();
        break;
    }
  }

  function connect(): void {
    wanted = true;
    clearTimeout(retry);
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/agent`);
    socket = ws;
    ws.addEventListener("open", () => {
      connected.value = true;
      backoff = 500;
      const conversations = useConversationsStore();
      void conversations.refresh(); // catch up on what happened while we were away
      if (conversations.currentId) void conversations.open(conversations.currentId);
    });
    ws.addEventListener("message", (ev: MessageEvent<string>) => {
      try {
        dispatch(JSON.parse(ev.data) as LiveMessage);
      } catch {
        /* a malformed frame is dropped; the next refresh catches up */
      }
    });
    ws.addEventListener("close", () => {
      connected.value = false;
      if (socket !== ws || !wanted) return;
      retry = setTimeout(connect, backoff);
      backoff = Math.min(10_000, backoff * 2);
    });
    clearInterval(pinger);
    pinger = setInterval(() => socket?.readyState === WebSocket.OPEN && socket.send("ping"), 15_000);
  }

  function disconnect(): void {
    wanted = false;
    clearInterval(pinger);
    clearTimeout(retry);
    socket?.close();
    socket = null;
    connected.value = false;
  }

  /** Wallboard refreshes on routing events only while a supervisor looks at it. */
  function watchWallboard(on: boolean): void {
    wallboardWatched = on;
  }

  return { connected, dispatch, connect, disconnect, watchWallboard };
});
