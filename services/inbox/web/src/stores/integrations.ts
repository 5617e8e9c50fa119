// Integrations (admins): API tokens and webhook subscriptions, each secret kept only until the admin dismisses it.
import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, request, seg } from "../api/http";
import type {
  DeliveryInfo,
  DeliveryLog,
  NewToken,
  NewWebhook,
  TokenBody,
  TokenInfo,
  TokenList,
  WebhookBody,
  WebhookInfo,
  WebhookList,
} from "../api/schemas";

export type Scope = TokenBody["scopes"][number];
export type EventType = WebhookBody["events"][number];
export const SCOPES: Scope[] = ["conversations:read", "messages:read", "customers:read", "agents:read", "queues:read", "kpis:read"];
export const EVENTS: EventType[] = ["conversation.created", "conversation.assigned", "conversation.resolved", "message.created", "survey.answered"];

export const useIntegrationsStore = defineStore("integrations", () => {
  const tokens = ref<TokenInfo[]>([]);
  const webhooks = ref<WebhookInfo[]>([]);
  const deliveries = ref<DeliveryInfo[]>([]);
  const openWebhook = ref("");
  const secret = ref(""); // a new token or signing secret, shown once
  const failed = ref(false);
  const urlRefused = ref(false); // the last subscription's URL was not a public address

  async function guarded(work: () => Promise<void>): Promise<boolean> {
    try {
      await work();
      failed.value = false;
      return true;
    } catch {
      failed.value = true;
      return false;
    }
  }

  /** Tokens and subscriptions. */
  async function load(): Promise<void> {
    await guarded(async () => {
      tokens.value = (await request<TokenList>("/api/admin/tokens")).tokens;
      webhooks.value = (await request<WebhookList>("/api/admin/webhooks")).webhooks;
    });
  }

  async function createToken(body: TokenBody): Promise<boolean> {
    return guarded(async () => {
      secret.value = (await request<NewToken>("/api/admin/tokens", { method: "POST", body })).token;
      await load();
    });
  }

  async function revokeToken(id: string): Promise<boolean> {
    return guarded(async () => {
      await request(`/api/admin/tokens/${seg(id)}/revoke`, { method: "POST", body: {} });
      await load();
    });
  }

  async function subscribe(body: WebhookBody): Promise<boolean> {
    urlRefused.value = false;
    return guarded(async () => {
      try {
        secret.value = (await request<NewWebhook>("/api/admin/webhooks", { method: "POST", body })).secret;
      } catch (err) {
        // 400: a loopback, private, link-local or unresolvable address (the server names which)
        urlRefused.value = err instanceof ApiError && err.status === 400;
        throw err;
      }
      await load();
    });
  }

  async function unsubscribe(id: string): Promise<boolean> {
    return guarded(async () => {
      await request(`/api/admin/webhooks/${seg(id)}`, { method: "DELETE" });
      if (openWebhook.value === id) openWebhook.value = "";
      await load();
    });
  }

  /** One subscription's delivery log. */
  async function showDeliveries(id: string): Promise<boolean> {
    openWebhook.value = id;
    return guarded(async () => {
      deliveries.value = (await request<DeliveryLog>(`/api/admin/webhooks/${seg(id)}/deliveries`)).deliveries;
    });
  }

  async function replay(delivery: string): Promise<boolean> {
    const id = openWebhook.value;
    return guarded(async () => {
      await request(`/api/admin/webhooks/${seg(id)}/deliveries/${seg(delivery)}/replay`, { method: "POST", body: {} });
      deliveries.value = (await request<DeliveryLog>(`/api/admin/webhooks/${seg(id)}/deliveries`)).deliveries;
    });
  }

  return { tokens, webhooks, deliveries, openWebhook, secret, failed, urlRefused, load, createToken, revokeToken, subscribe, unsubscribe, showDeliveries, replay };
});
