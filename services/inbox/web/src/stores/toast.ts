// Short status messages announced to screen readers: a catalogue key, so they follow a language change.
import { defineStore } from "pinia";
import { ref } from "vue";

export const useToastStore = defineStore("toast", () => {
  const text = ref(""); // a catalogue key
  let timer: ReturnType<typeof setTimeout> | undefined;

  /** Show the message with this catalogue key for a few seconds. */
  function show(key: string): void {
    text.value = key;
    clearTimeout(timer);
    timer = setTimeout(() => (text.value = ""), 4000);
  }

  return { text, show };
});
