// The offer stack's alerts: a chime and a desktop notification per new offer, each off when the agent turns it off.
import { mount } from "@vue/test-utils";
import { createPinia, setActivePinia } from "pinia";
import { nextTick } from "vue";
import type { Offer } from "../src/api/types";
import { i18n } from "../src/i18n";
import { useClockStore } from "../src/stores/clock";
import { customerName, useOffersStore } from "../src/stores/offers";
import { useSettingsStore } from "../src/stores/settings";
import OfferStack from "../src/views/offers/OfferStack.vue";

const heard = { tones: 0, notices: [] as string[] };

/** Web Audio and Notification as the browser has them (jsdom has neither): they only count. */
class CountingAudio {
  currentTime = 0;
  destination = {};
  createOscillator(): object {
    return { frequency: {}, connect: (n: object) => n, start: () => (heard.tones += 1), stop: () => undefined };
  }
  createGain(): object {
    return { gain: { setValueAtTime: () => undefined, exponentialRampToValueAtTime: () => undefined }, connect: (n: object) => n };
  }
}
class CountingNotification {
  static permission = "granted";
  onclick: (() => void) | null = null;
  constructor(title: string) {
    heard.notices.push(title);
  }
  close(): void {}
}

function offer(id: string): Offer {
  return {
    reservation_id: id,
    expire_time: new Date(2_000_000).toISOString(),
    conversation: { id: `cnv_${id}`, channel: "CHANNEL_SMS", queue: "support", customer_display_name: id },
  } as Offer;
}

describe("offer alerts", () => {
  beforeEach(() => {
    setActivePinia(createPinia());
    heard.tones = 0;
    heard.notices = [];
    vi.stubGlobal("AudioContext", CountingAudio);
    vi.stubGlobal("Notification", CountingNotification);
    vi.stubGlobal("CSS", { escape: (s: string) => s }); // jsdom has no CSS.escape
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
  });
  afterEach(() => vi.unstubAllGlobals());

  it("chimes and notifies for a new offer, and neither once turned off", async () => {
    useClockStore().now = 1000;
    const offers = useOffersStore();
    const settings = useSettingsStore();
    const stack = mount(OfferStack, { global: { plugins: [i18n] }, attachTo: document.body });
    offers.add(offer("r1"));
    await nextTick();
    await nextTick();
    expect(heard.tones).toBe(2); // two tones make the chime
    expect(heard.notices).toEqual(["New SMS conversation"]);
    expect(document.activeElement?.classList.contains("accept")).toBe(true); // focus moved to the new offer
    settings.sound = false;
    settings.notifications = false;
    offers.add(offer("r2"));
    await nextTick();
    await nextTick();
    expect(heard).toEqual({ tones: 2, notices: ["New SMS conversation"] });
    stack.unmount();
  });
});


describe("the customer an offer names", () => {
  it("reads a WhatsApp address like a phone number, without Twilio's whatsapp: prefix", () => {
    const conv = (channel: string, source_id: string, name = "") =>
      ({ id: "cnv_1", channel, customer_display_name: name, identity: { channel, source_id } }) as unknown as Offer["conversation"];
    expect(customerName(conv("CHANNEL_WHATSAPP", "whatsapp:+447700900123"))).toBe("+447700900123");
    expect(customerName(conv("CHANNEL_SMS", "+8613800138000"))).toBe("+8613800138000");
    expect(customerName(conv("CHANNEL_WHATSAPP", "whatsapp:+447700900123", "Maria"))).toBe("Maria");
  });
});
