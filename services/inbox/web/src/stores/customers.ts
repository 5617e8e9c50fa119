// The open conversation's customer: identities on every channel, contact fields and notes, previous conversations,
// and merging another record in.
import { defineStore } from "pinia";
import { ref } from "vue";
import { request, seg } from "../api/http";
import type { CustomerProfile, CustomerProfileBody, MergeBody, SearchResults } from "../api/schemas";
import type { Customer } from "../api/types";

/** The phone field split on commas and semicolons (each number once, spaces inside a number kept). */
export function parsePhones(field: string): string[] {
  return [...new Set(field.split(/[,;\n]+/).map((p) => p.trim()).filter(Boolean))];
}

/** Another customer the merge dialog offers: found by name, phone number, email address or id. */
export interface MergeCandidate {
  customer_id: string;
  name: string;
  identity: string;
  channel: string;
}

/** Search hits as merge candidates: one per customer, never `self`, in the order found (newest first). */
export function candidatesOf(results: SearchResults, self: string): MergeCandidate[] {
  const seen = new Set([self]);
  const out: MergeCandidate[] = [];
  for (const hit of results.hits) {
    if (seen.has(hit.customer_id)) continue;
    seen.add(hit.customer_id);
    out.push({ customer_id: hit.customer_id, name: hit.customer_name, identity: hit.identity, channel: hit.channel });
  }
  return out;
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

  /** Other customers I may see whose name, number, address or id matches `q` (the search the desktop has). */
  async function findOthers(q: string): Promise<MergeCandidate[]> {
    const text = q.trim();
    if (!text) return [];
    const results = await request<SearchResults>(`/api/search?${new URLSearchParams({ q: text, limit: "50" })}`);
    return candidatesOf(results, customerId.value);
  }

  /** Fold another record into this customer: by an identity (channel + address) or a customer found by search. */
  async function merge(channel: string, sourceId: string, otherCustomer = ""): Promise<boolean> {
    error.value = "";
    const body: MergeBody = otherCustomer ? { customer_id: otherCustomer } : { channel, source_id: sourceId };
    try {
      customer.value = await request<Customer>(`/api/customers/${seg(customerId.value)}/merge`, { method: "POST", body });
      void load(customerId.value); // identities and previous conversations of both records now
      return true;
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
      return false;
    }
  }

  return { customer, profile, customerId, error, saved, load, save, merge, findOthers };
});
