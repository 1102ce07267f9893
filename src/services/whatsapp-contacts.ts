import { sql, type Transaction } from "kysely";
import type { IncomingMessage } from "../domain/whatsapp-events.ts";
import type { DB } from "../platform/db/schema.ts";
import { uuidv7 } from "../platform/ids.ts";
import { toContact } from "./contact-view.ts";
import { cacheRef, type EntityCache } from "./entity-cache.ts";
import type { UnitOfWorkContext } from "./unit-of-work.ts";

type Counterpart = IncomingMessage["counterpart"];
type Identity = "whatsapp_wid" | "whatsapp_lid" | "phone";

/** The identities to look a counterpart up by, in order of trust. */
const identitiesOf = (who: Counterpart) =>
  (
    [
      ["whatsapp_wid", who.wid],
      ["whatsapp_lid", who.lid],
      ["phone", who.phone],
    ] as const
  ).filter((pair): pair is readonly [Identity, string] => Boolean(pair[1]));

/**
 * Finds the contact a WhatsApp counterpart is (by WhatsApp id, linked id, then phone)
 * or creates it, and records the ids and interaction times. Safe under concurrency: the
 * insert yields to a contact created meanwhile with the same phone.
 */
export async function resolveWhatsAppContact(
  context: UnitOfWorkContext,
  projectId: string,
  who: Counterpart,
  at: Date,
  cache: EntityCache,
): Promise<{ contactId: string; created: boolean }> {
  const { trx, emit } = context;
  const existing = await touchExisting(context, projectId, who, at, cache);
  if (existing) {
    // The contact changed (interaction times, maybe its ids): its entry goes after commit.
    cache.afterCommit(context, cacheRef.contact(projectId, existing));
    return { contactId: existing, created: false };
  }
  const now = new Date();
  const row = await trx
    .insertInto("contacts")
    .values({
      id: uuidv7(),
      project_id: projectId,
      name: who.name?.trim() || (who.phone ? `+${who.phone}` : "WhatsApp contact"),
      phone: who.phone,
      whatsapp_wid: who.wid,
      whatsapp_lid: who.lid,
      custom_fields: "{}",
      tags: [],
      first_interaction_at: at,
      last_interaction_at: at,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc
        .columns(["project_id", "phone"])
        .where("deleted_at", "is", null)
        .where("phone", "is not", null)
        .doNothing(),
    )
    .returningAll()
    .executeTakeFirst();
  if (!row) {
    // Another message of the same new contact won the race; use its row.
    const winner = await find(trx, projectId, who);
    if (!winner) throw new Error("contact vanished after a phone conflict");
    return { contactId: winner, created: false };
  }
  const contact = toContact(row);
  emit("contact.created", {
    projectId,
    aggregateId: contact.id,
    data: {
      contact: {
        id: contact.id,
        name: contact.name,
        phone: contact.phone,
        email: contact.email,
        tags: contact.tags,
        customFields: contact.customFields,
        externalId: contact.externalId,
      },
    },
  });
  return { contactId: contact.id, created: true };
}

/**
 * The existing contact, found through cached id hints (only found ids are cached) and
 * updated with the interaction. The update is the hint's proof: it only matches a live
 * contact that still has that identity; a stale hint falls back to the database.
 */
async function touchExisting(
  context: UnitOfWorkContext,
  projectId: string,
  who: Counterpart,
  at: Date,
  cache: EntityCache,
): Promise<string | undefined> {
  const { trx } = context;
  for (const [column, value] of identitiesOf(who)) {
    const ref = cacheRef.contactBy(projectId, column, value);
    const hinted = await cache.read(ref, () => idBy(trx, projectId, column, value), {
      negativeTtlMs: 0,
    });
    if (!hinted) continue;
    if (await touch(trx, projectId, hinted, [column, value], who, at)) return hinted;
    await cache.invalidate([ref], { repeat: false });
    const id = await idBy(trx, projectId, column, value);
    if (id && (await touch(trx, projectId, id, [column, value], who, at))) return id;
  }
  return undefined;
}

async function touch(
  trx: Transaction<DB>,
  projectId: string,
  id: string,
  [column, value]: readonly [Identity, string],
  who: Counterpart,
  at: Date,
): Promise<boolean> {
  const result = await trx
    .updateTable("contacts")
    .set({
      whatsapp_wid: sql`coalesce(whatsapp_wid, ${who.wid})`,
      whatsapp_lid: sql`coalesce(whatsapp_lid, ${who.lid})`,
      first_interaction_at: sql`least(coalesce(first_interaction_at, ${at}), ${at})`,
      last_interaction_at: sql`greatest(coalesce(last_interaction_at, ${at}), ${at})`,
      updated_at: new Date(),
    })
    .where("id", "=", id)
    .where("project_id", "=", projectId)
    .where("deleted_at", "is", null)
    .where(column, "=", value)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

async function idBy(
  trx: Transaction<DB>,
  projectId: string,
  column: Identity,
  value: string,
): Promise<string | undefined> {
  const row = await trx
    .selectFrom("contacts")
    .select("id")
    .where("project_id", "=", projectId)
    .where("deleted_at", "is", null)
    .where(column, "=", value)
    .orderBy("id")
    .limit(1)
    .executeTakeFirst();
  return row?.id;
}

async function find(
  trx: Transaction<DB>,
  projectId: string,
  who: Counterpart,
): Promise<string | undefined> {
  for (const [column, value] of identitiesOf(who)) {
    const id = await idBy(trx, projectId, column, value);
    if (id) return id;
  }
  return undefined;
}
