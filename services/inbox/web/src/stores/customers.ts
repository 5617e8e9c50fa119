// The open conversation's customer: identities on every channel, contact fields and notes, previous conversations,
// and merging another record in.
import { defineStore } from "pinia";
import { ref } from "vue";
import { request, seg } from "../api/http";
import type { CustomerProfile, CustomerProfileBody, MergeBody } from "../api/schemas";
import type { Customer } from "../api/types";

/** The phone field split on commas and semicolons (each number once, spaces inside a number kept). */
export function parsePhones(field: string): string[] {
  return [...new Set(field.split(/[,;\n]+/).map((p) => p.trim()).filter(Boolean))];
}

export const useCustomersStore = defineStore("customers", () => {
  const customer = ref<Customer | null>(null);
  const profile = ref<CustomerProfile | null>(null);
  const customerId = ref("");
  const error = ref("");
  const saved = ref(false);

  async function load(id: string): Promise<void> {
    customerId.value = id;
    saved.value = false;
    try {
      const [c, p] = await Promise.all([
        request<Customer>(`/api/customers/${seg(id)}`),
        request<CustomerProfile>(`/api/customers/${seg(id)}/profile`),
      ]);
      if (customerId.value === id) [customer.value, profile.value] = [c, p];
    } catch {
      if (customerId.value === id) [customer.value, profile.value] = [null, null];
    }
  }

  /** Keep the contact fields and notes; the server's answer (its clean form) replaces what is shown. */
  async function save(fields: CustomerProfileBody): Promise<boolean> {
    error.value = "";
    saved.value = false;
    try {
      profile.value = await request<CustomerProfile>(`/api/customers/${seg(customerId.value)}/profile`, {
        method: "PUT",
        body: fields,
      });
      saved.value = true;
      return true;
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
      return false;
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
      void load(customerId.value); // identities and previous conversations of both records now
      return true;
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
      return false;
    }
  }

  return { customer, profile, customerId, error, saved, load, save, merge };
});
