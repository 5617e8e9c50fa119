"""Keeps the KPI rollups current as events are stored, and builds them from stored data when they are missing."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from omnihub.common.logging import get_logger
from omnihub.quality import rollups
from omnihub.quality.rollups import FCR_WINDOW, Contribution, RollupConfig
from omnihub.quality.store import FLAGGED, LAYOUT, QualityStore, changed_document, created_document

log = get_logger("omnihub.quality.rollups")

META = "rollups"
REBUILD_PAGE = 5_000


def _key(conversation_id: str) -> str:
    """A conversation id usable as a field name (the customer document maps it back when they differ)."""
    return conversation_id.replace(".", "_").replace("$", "_")


def _customer(was: dict[str, Any], contacts: dict[str, float], closes: dict[str, float],
              ids: dict[str, str]) -> dict[str, Any]:
    """A customer's document with these contacts, closes and ids (empty ones left out), its other fields kept."""
    doc = {k: v for k, v in was.items() if k not in ("contacts", "closes", "ids")}
    for field, values in (("contacts", contacts), ("closes", closes), ("ids", ids)):
        if values:
            doc[field] = values
    return doc


class RollupWriter:
    """Applies the difference between each changed item's new and stored contribution to the buckets."""

    def __init__(self, store: QualityStore, config: RollupConfig) -> None:
        self.store = store
        self.config = config

    async def record(self, changes: dict[str, dict[str, Any]], stored: frozenset[str] | set[str] = frozenset(),
                     document: Callable[[str], dict[str, Any]] | None = None) -> list[str]:
        """Write a batch's conversation changes with their contributions, the customers' contacts and the bucket
        deltas (call inside the store's transaction). Returns the conversations inserted whole.

        Conversations this process has not seen stored (and not in `stored`) are inserted whole with their
        contribution computed beforehand. Stored ones are read first (without timelines), the change applied to
        them here too, and updated once with the FCR flag of their new contribution; the difference between
        the contribution before and after goes to the buckets. An insert that meets an existing conversation
        raises; the caller retries with its id in `stored`. `document(id)` builds a new conversation's document
        (default: from its change, as the server's upsert would).
        """
        if not changes:
            return []
        build = document or (lambda cid: created_document(cid, changes[cid]))
        fresh = {cid: build(cid) for cid in self.store.unknown(changes) if cid not in stored}
        old = {cid: change for cid, change in changes.items() if cid not in fresh}
        before = {d["_id"]: d for d in await self.store.kpi_documents(list(old))}
        after = [changed_document(before.get(cid) or {"_id": cid}, change) for cid, change in old.items()]
        customers: dict[str, dict[str, Any]] = {}
        contacts, affected = await self._contacts([*fresh.values(), *after], customers)
        affected -= set(changes)
        others: list[dict[str, Any]] = []
        if affected:
            others = await self.store.kpi_documents(sorted(affected))
            contacts.update((await self._contacts(others, customers))[0])  # their customers may be other (merged) ids
        parts: list[Contribution] = []
        for doc in fresh.values():
            repeat = rollups.repeated(doc, contacts.get(doc.get("customer_id", ""), ()))
            parts.append(rollups.contribution(doc, self.config, repeat))
            doc["kpi"] = int(repeat)
        updates: dict[str, dict[str, Any]] = {}
        flagged: dict[str, int] = {}  # stored ones whose applied flag is kept in fcr_flags: it is updated there too
        for doc in after:
            cid = doc["_id"]
            repeat = rollups.repeated(doc, contacts.get(doc.get("customer_id", ""), ()))
            was = before.get(cid)
            parts.append(rollups.diff(rollups.contribution(doc, self.config, repeat),
                                      rollups.applied(was, self.config) if was else {}))
            change = old[cid]
            updates[cid] = {**change, "$set": {**change.get("$set", {}), "kpi": int(repeat)}}
            if was and was.get(FLAGGED):
                flagged[cid] = int(repeat)
        await self.store.update_conversations(updates)
        await self.store.note_applied(flagged, flagged)
        await self.store.insert_conversations(list(fresh.values()))
        await self._apply(others, contacts, parts)
        return list(fresh)

    async def conversations(self, ids: list[str], extra: set[str] | None = None) -> None:
        """Recompute the contribution of conversations just written (and of the same customers' earlier ones
        whose first-contact resolution a new contact may have changed)."""
        if not ids and not extra:
            return
        docs = await self.store.kpi_documents(ids)
        customers: dict[str, dict[str, Any]] = {}
        contacts, affected = await self._contacts(docs, customers)
        affected |= extra or set()
        affected -= set(ids)
        if affected:
            more = await self.store.kpi_documents(sorted(affected))
            contacts.update((await self._contacts(more, customers))[0])  # their customers may be other (merged) ids
            docs += more
        await self._apply(docs, contacts)

    async def _contacts(self, docs: list[dict[str, Any]], cache: dict[str, dict[str, Any]] | None = None,
                        ) -> tuple[dict[str, list[float]], set[str]]:
        """Record the docs' contacts and closes with their (root) customers; return each customer's contact
        times and the other conversations whose 7-day window a new contact falls in.

        `cache`: customers' documents as this transaction has left them (read or written by an earlier call with
        the same dict, which gains this call's): they are not read again.
        """
        customers = sorted({d["customer_id"] for d in docs if d.get("customer_id")})
        if not customers:
            return {}, set()
        cache = {} if cache is None else cache
        stored = {c: cache[c] for c in customers if c in cache}
        stored.update(await self.store.customer_docs([c for c in customers if c not in cache]))
        roots = await self._roots(customers, stored)
        # each root's contacts, closes and ids as they will be after this batch: stored ones with the batch's
        contacts_of: dict[str, dict[str, float]] = {}
        closes_of: dict[str, dict[str, float]] = {}
        ids_of: dict[str, dict[str, str]] = {}
        updates: dict[str, dict[str, dict[str, Any]]] = {}  # of stored roots only; new ones are inserted whole
        new_contacts: dict[str, list[float]] = {}
        for d in docs:
            customer = d.get("customer_id")
            if not customer:
                continue
            root = roots.get(customer, customer)
            contacts = contacts_of.get(root)
            if contacts is None:
                was = stored.get(root)
                contacts = contacts_of[root] = dict(was.get("contacts", {})) if was else {}
                closes_of[root] = dict(was.get("closes", {})) if was else {}
                ids_of[root] = dict(was.get("ids", {})) if was else {}
                if was is not None:
                    updates[root] = {}
            u = updates.get(root)
            conv = d["_id"]
            key = _key(conv)
            created, closed = d.get("created"), d.get("closed")
            # a stored customer's document is updated only where it changes: a conversation's later events
            # (and replays) leave its contact and close as stored, and an update costs ~4 inserts on SecantusDB
            if created is not None:
                known = contacts.get(key)
                if known is None or created < known:
                    contacts[key] = created
                    if u is not None:
                        u.setdefault("$min", {})[f"contacts.{key}"] = created
                new_contacts.setdefault(root, []).append(float(created))
            if closed is not None:
                closes = closes_of[root]
                known = closes.get(key)
                if known is None or closed > known:
                    closes[key] = closed
                    if u is not None:
                        u.setdefault("$max", {})[f"closes.{key}"] = closed
            if key != conv and ids_of[root].get(key) != conv:
                ids_of[root][key] = conv
                if u is not None:
                    u.setdefault("$set", {})[f"ids.{key}"] = conv
        new = [_customer({"_id": root}, contacts, closes_of[root], ids_of[root])
               for root, contacts in contacts_of.items() if root not in stored]
        changed = {r: u for r, u in updates.items() if u}
        if self.store.in_transaction():
            # read in this transaction, so replaced whole: a replace costs SecantusDB about two thirds of a
            # $min/$max update (bench/secantus_costs.py), and a concurrent writer still conflicts and retries
            await self.store.write_customers(new, {}, [_customer(stored[r], contacts_of[r], closes_of[r], ids_of[r])
                                                       for r in changed])
        else:
            await self.store.write_customers(new, changed)
        cache.update(stored)
        for root, contacts in contacts_of.items():
            cache[root] = {**stored.get(root, {}), "_id": root, "contacts": contacts, "closes": closes_of[root],
                           "ids": ids_of[root]}
        times = {root: [float(t) for t in contacts.values()] for root, contacts in contacts_of.items()}
        out = {c: times[roots.get(c, c)] for c in customers if roots.get(c, c) in times}
        affected: set[str] = set()
        for root, fresh in new_contacts.items():
            ids = ids_of[root]
            lo, hi = min(fresh) - FCR_WINDOW, max(fresh)
            affected |= {ids.get(k, k) for k, closed in closes_of[root].items() if lo <= closed < hi}
        return out, affected

    async def _roots(self, customers: list[str], stored: dict[str, dict[str, Any]]) -> dict[str, str]:
        """customer -> the customer it was merged into (followed to the end), for merged ones only; reads the
        roots' documents into `stored`."""
        out: dict[str, str] = {}
        for c in customers:
            root, hops = c, 0
            while stored.get(root, {}).get("into") and hops < 8:
                root, hops = stored[root]["into"], hops + 1
                if root not in stored:
                    stored.update(await self.store.customer_docs([root]))
            if root != c:
                out[c] = root
        return out

    async def _apply(self, docs: list[dict[str, Any]], contacts: dict[str, list[float]],
                     parts: list[Contribution] | None = None) -> None:
        """Apply the change of each stored, unchanged doc's contribution (and the `parts` already computed) to the
        buckets, noting the FCR flag of those whose contribution or stored form changed."""
        deltas: list[Contribution] = list(parts or [])
        flags: dict[str, int] = {}
        for d in docs:
            repeat = rollups.repeated(d, contacts.get(d.get("customer_id", ""), ()))
            kpi = d.get("kpi")
            if type(kpi) is int:  # applied with this flag to this very document: only the flag can change it
                change = rollups.repeat_change(d, self.config, bool(kpi), repeat)
            else:
                change = rollups.diff(rollups.contribution(d, self.config, repeat), rollups.applied(d, self.config))
            if change:
                deltas.append(change)
            if change or d.get("kpi") != int(repeat):
                flags[d["_id"]] = int(repeat)
        await self.store.note_applied(flags, [d["_id"] for d in docs if d.get(FLAGGED)],
                                      [d["_id"] for d in docs if d.get("kpi") is None])
        await self._commit(rollups.merge(deltas), {})

    async def _commit(self, deltas: Contribution, applied: dict[str, list[Any]]) -> None:
        """Write bucket deltas with the change they make to the queues' share of agent time (read and written in
        one transaction: the ingest's, else its own)."""
        if not self.store.in_transaction():
            await self.store.transaction(lambda: self._commit(deltas, applied))
            return
        slots = sorted({int(bid.split("|", 3)[2]) for bid in deltas if bid.startswith("s|x|")})
        if slots:
            deltas = rollups.with_queue_time(deltas, await self.store.agent_queue_slots(slots), self.config)
        await self.store.apply_rollups(deltas, applied)

    async def merges(self, pairs: list[tuple[str, str]]) -> None:
        """Customers merged (merged -> survivor): their conversations' FCR is recomputed as one customer's."""
        for merged, survivor in pairs:
            await self.store.merge_customer(merged, survivor)
            doc = await self.store.customer(survivor)
            if doc:
                ids = doc.get("ids", {})
                await self.conversations([], {ids.get(k, k) for k in doc.get("closes", {})})

    async def survey(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """A survey answer changed."""
        await self._commit(rollups.diff(rollups.survey(after, self.config),
                                                    rollups.survey(before, self.config)), {})

    async def states(self, docs: list[dict[str, Any]]) -> None:
        """New agent state changes: the spans they split or join, recomputed."""
        by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for d in docs:
            by_agent[d["agent"]].append(d)
        deltas: list[Contribution] = []
        for agent, new in by_agent.items():
            fresh = {d["_id"] for d in new}
            around = await self.store.state_neighbours(agent, min(d["time"] for d in new), max(d["time"] for d in new))
            old = [(d["time"], d["to_state"]) for d in around if d["_id"] not in fresh]
            now = [(d["time"], d["to_state"]) for d in around]
            deltas.append(rollups.diff(rollups.spans(agent, now, self.config), rollups.spans(agent, old, self.config)))
            last = around[-1]
            await self.store.note_last_state(agent, last["time"], last["to_state"])
        await self._commit(rollups.merge(deltas), {})

    def _fingerprint(self) -> str:
        """The definition and the storage layout the stored rollups were built with."""
        return f"{self.config.fingerprint()} {LAYOUT}"

    async def ensure(self) -> bool:
        """Build the rollups from stored data when they were never built or their definition changed.

        Returns True when a rebuild ran.
        """
        meta = await self.store.get_meta(META)
        if meta and meta.get("fingerprint") == self._fingerprint():
            return False
        await self.rebuild("missing" if meta is None else "definition changed")
        return True

    async def rebuild(self, reason: str = "asked") -> None:
        """Recompute every bucket from the stored conversations, state changes and surveys (logs progress)."""
        started = time.monotonic()
        total = await self.store.conversations.estimated_document_count()
        log.info("quality.rollups.rebuild_started", reason=reason, conversations=total)
        await self.store.clear_rollups()
        for d in await self.store.events.find({"kind": "customer_merged"}, {"data": 1}).to_list(None):
            data = d.get("data", {})
            if data.get("merged_customer_id") and data.get("customer_id"):
                await self.store.merge_customer(data["merged_customer_id"], data["customer_id"])
        done = 0
        after = ""
        # first every contact, so each conversation's first-contact resolution sees its customer's later ones
        for pass_ in ("contacts", "contributions"):
            after, done = "", 0
            while True:
                page = await self.store.conversations_since(after, REBUILD_PAGE)
                if not page:
                    break
                after = page[-1]["_id"]
                contacts, _ = await self._contacts(page)
                if pass_ == "contributions":
                    await self._apply(page, contacts)
                done += len(page)
                log.info("quality.rollups.rebuild_progress", step=pass_, done=done, total=total)
        by_agent: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
        for d in await self.store.all_state_changes():
            by_agent[d["agent"]].append((d["time"], d["_id"], d["to_state"]))
        deltas: list[Contribution] = []
        for agent, changes in by_agent.items():
            changes.sort()
            chain = [(t, s) for t, _id, s in changes]
            deltas.append(rollups.spans(agent, chain, self.config))
            await self.store.note_last_state(agent, chain[-1][0], chain[-1][1])
        deltas += [rollups.survey(s, self.config) for s in await self.store.all_surveys()]
        await self._commit(rollups.merge(deltas), {})
        await self.store.set_meta(META, fingerprint=self._fingerprint(), built=time.time())
        log.info("quality.rollups.rebuild_finished", conversations=done, seconds=round(time.monotonic() - started, 1))
