import { sql, type Transaction } from "kysely";
import type { IncomingMessage } from "../domain/whatsapp-events.ts";
import type { DB } from "../platform/db/schema.ts";
import { uuidv7 } from "../platform/ids.ts";
import { toContact } from "./contacts.ts";
import type { UnitOfWorkContext } from "./unit-of-work.ts";

type Counterpart = IncomingMessage["counterpart"];

/**
 * Finds the contact a WhatsApp counterpart is (by WhatsApp id, linked id, then phone)
 * or creates it, and records the ids and interaction times. Safe under concurrency: the
 * insert yields to a contact created meanwhile with the same phone.
 */
export async function resolveWhatsAppContact(
  { trx, emit }: UnitOfWorkContext,
  projectId: string,
  who: Counterpart,
  at: Date,
): Promise<{ contactId: string; created: boolean }> {
  const existing = await find(trx, projectId, who);
  if (existing) {
    await trx
      .updateTable("contacts")
      .set({
        whatsapp_wid: sql`coalesce(whatsapp_wid, ${who.wid})`,
        whatsapp_lid: sql`coalesce(whatsapp_lid, ${who.lid})`,
        first_interaction_at: sql`least(coalesce(first_interaction_at, ${at}), ${at})`,
        last_interaction_at: sql`greatest(coalesce(last_interaction_at, ${at}), ${at})`,
        updated_at: new Date(),
      })
      .where("id", "=", existing)
      .execute();
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

async function find(
  trx: Transaction<DB>,
  projectId: string,
  who: Counterpart,
): Promise<string | undefined> {
  const base = trx
    .selectFrom("contacts")
    .select("id")
    .where("project_id", "=", projectId)
    .where("deleted_at", "is", null);
  for (const [column, value] of [
    ["whatsapp_wid", who.wid],
    ["whatsapp_lid", who.lid],
    ["phone", who.phone],
  ] as const) {
    if (!value) continue;
    const row = await base.where(column, "=", value).orderBy("id").limit(1).executeTakeFirst();
    if (row) return row.id;
  }
  return undefined;
}
