// The agent's own settings, kept in the browser: offer sound and desktop notifications.
import { defineStore } from "pinia";
import { ref, watch } from "vue";

const KEY = "omnihub.settings";
const ASKED = "omnihub.notifications-asked";

interface Saved {
  sound: boolean;
  notifications: boolean;
}

function load(): Saved {
  try {
    return { sound: true, notifications: true, ...(JSON.parse(localStorage.getItem(KEY) ?? "{}") as Partial<Saved>) };
  } catch {
    return { sound: true, notifications: true };
  }
}

export const useSettingsStore = defineStore("settings", () => {
  const saved = load();
  const sound = ref(saved.sound);
  const notifications = ref(saved.notifications);
  watch([sound, notifications], () =>
    localStorage.setItem(KEY, JSON.stringify({ sound: sound.value, notifications: notifications.value })),
  );

  /** Ask for desktop-notification permission once per browser (after a user gesture), if wanted. */
  async function askPermissionOnce(): Promise<void> {
    if (!notifications.value || typeof Notification === "undefined") return;
    if (Notification.permission !== "default" || localStorage.getItem(ASKED)) return;
    localStorage.setItem(ASKED, "1");
    await Notification.requestPermission().catch(() => "denied");
  }

  return { sound, notifications, askPermissionOnce };
});
