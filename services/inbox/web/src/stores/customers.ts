// The open conversation's customer: identities on every channel, and merging another record in.
import { defineStore } from "pinia";
import { ref } from "vue";
import { request, seg } from "../api/http";
import type { MergeBody } from "../api/schemas";
import type { Customer } from "../api/types";

export const useCustomersStore = defineStore("customers", () => {
  const customer = ref<Customer | null>(null);
  const customerId = ref("");
  const error = ref("");

  async function load(id: string): Promise<void> {
    customerId.value = id;
    try {
      const c = await request<Customer>(`/api/customers/${seg(id)}`);
      if (customerId.value === id) customer.value = c;
    } catch {
      if (customerId.value === id) customer.value = null;
    }
  }

  /** Fold the record of another identity (channel + address) into this customer. */
  async function merge(channel: string, sourceId: string): Promise<boolean> {
    error.value = "";
    try {
      customer.value = await request<Customer>(`/api/customers/${seg(customerId.value)}/merge`, {
        method: "POST",
        body: { channel, source_id: sourceId } satisfies MergeBody,
      });
      return true;
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
      return false;
    }
  }

  return { customer, customerId, error, load, merge };
});
