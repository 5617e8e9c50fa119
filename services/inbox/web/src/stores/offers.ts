// Pending offers, all at once: each with its own countdown; ended ones say why (expired or withdrawn).
import { defineStore } from "pinia";
import { computed, ref } from "vue";
import { ApiError, request, seg } from "../api/http";
import { epoch, type Conversation, type Offer } from "../api/types";
import { addressLabel } from "../labels";
import { useClockStore } from "./clock";

export type EndReason = "expired" | "withdrawn" | "taken" | "rejected" | "customer_left" | "transferred" | "agent_offline";

/** The router's reason for ending an offer (routing.v1.OfferEnded.reason), as the screen says it. */
const ROUTER_REASONS: Record<string, EndReason> = {
  timeout: "expired",
  rejected: "rejected",
  customer_left: "customer_left",
  transferred: "transferred",
  agent_offline: "agent_offline",
};

export interface EndedOffer {
  reservationId: string;
  customer: string;
  why: EndReason;
  at: number;
}

/** Who an offer or conversation is from, as the agent should see it. */
export function customerName(c: Conversation | undefined): string {
  return c?.customer_display_name || addressLabel(c?.identity?.source_id ?? "") || c?.id || "";
}

export const useOffersStore = defineStore("offers", () => {
  const pending = ref<Offer[]>([]);
  const ended = ref<EndedOffer[]>([]);
  const arrivals = ref(0); // bumps on each new offer: the shell plays the sound and moves focus
  const latest = ref("");
  const clock = useClockStore();

  const count = computed(() => pending.value.length);

  function secondsLeft(offer: Offer): number {
    return Math.max(0, epoch(offer.expire_time) - clock.now);
  }

  function end(reservationId: string, why: EndReason): void {
    const offer = pending.value.find((o) => o.reservation_id === reservationId);
    if (offer === undefined) return;
    pending.value = pending.value.filter((o) => o.reservation_id !== reservationId);
    if (why !== "taken" && why !== "rejected") {
      ended.value = [
        { reservationId, customer: customerName(offer.conversation), why, at: clock.now },
        ...ended.value,
      ].slice(0, 5);
    }
  }

  /** A new offer from the socket (a replay of one we already show is ignored). Returns true if new. */
  function add(offer: Offer): boolean {
    if (pending.value.some((o) => o.reservation_id === offer.reservation_id)) return false;
    pending.value = [...pending.value, offer];
    latest.value = offer.reservation_id;
    arrivals.value += 1;
    return true;
  }

  /** The router withdrew an offer, with its reason when it gave one (else guessed from the countdown). */
  function withdrawn(reservationId: string, reason = ""): void {
    const offer = pending.value.find((o) => o.reservation_id === reservationId);
    if (offer === undefined) return;
    end(reservationId, ROUTER_REASONS[reason] ?? (secondsLeft(offer) <= 0.5 ? "expired" : "withdrawn"));
  }

  /** Offers whose time ran out locally (the router's notice may come a little later). */
  function expire(): void {
    for (const offer of pending.value) if (epoch(offer.expire_time) > 0 && secondsLeft(offer) <= 0) end(offer.reservation_id, "expired");
  }

  /** The conversation was assigned to us some other way: its offer is done. */
  function settled(conversationId: string): void {
    for (const offer of pending.value) if (offer.conversation?.id === conversationId) end(offer.reservation_id, "taken");
  }

  /** Accept: the conversation, or null when the offer was gone (it then says why). */
  async function accept(reservationId: string): Promise<Conversation | null> {
    try {
      const conv = await request<Conversation>(`/api/offers/${seg(reservationId)}/accept`, { method: "POST" });
      end(reservationId, "taken");
      return conv;
    } catch (err) {
      end(reservationId, err instanceof ApiError && err.status === 404 ? "expired" : "withdrawn");
      return null;
    }
  }

  /** Reject: the router offers it to someone else. */
  async function reject(reservationId: string): Promise<void> {
    await request(`/api/offers/${seg(reservationId)}/reject`, { method: "POST" }).catch(() => undefined);
    end(reservationId, "rejected");
  }

  function dismiss(reservationId: string): void {
    ended.value = ended.value.filter((e) => e.reservationId !== reservationId);
  }

  return { pending, ended, arrivals, latest, count, secondsLeft, add, withdrawn, expire, settled, accept, reject, dismiss };
});
