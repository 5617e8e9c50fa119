// Short status messages announced to screen readers.
import { defineStore } from "pinia";
import { ref } from "vue";

export const useToastStore = defineStore("toast", () => {
  const text = ref("");
  let timer: ReturnType<typeof setTimeout> | undefined;

  /** Show a message for a few seconds. */
  function show(message: string): void {
    text.value = message;
    clearTimeout(timer);
    timer = setTimeout(() => (text.value = ""), 4000);
  }

  return { text, show };
});
