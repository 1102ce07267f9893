import type { Selectable } from "kysely";
import type { ContactsTable } from "../platform/db/schema.ts";
import { cacheRef, type CacheRef } from "./entity-cache.ts";

/** A contact row, and what the API, events and the cache make of it. */
export type ContactRow = Selectable<ContactsTable>;

export interface Contact {
  id: string;
  name: string;
  phone: string | null;
  email: string | null;
  tags: string[];
  customFields: Record<string, unknown>;
  externalId: string | null;
  whatsapp: { wid: string | null; lid: string | null };
  firstInteractionAt: string | null;
  lastInteractionAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The cache entries a contact row is read by: itself and its phone / WhatsApp id hints. */
export function refsOf(
  row: Pick<ContactRow, "id" | "project_id" | "phone" | "whatsapp_wid" | "whatsapp_lid">,
): CacheRef[] {
  const refs = [cacheRef.contact(row.project_id, row.id)];
  if (row.phone) refs.push(cacheRef.contactBy(row.project_id, "phone", row.phone));
  if (row.whatsapp_wid)
    refs.push(cacheRef.contactBy(row.project_id, "whatsapp_wid", row.whatsapp_wid));
  if (row.whatsapp_lid)
    refs.push(cacheRef.contactBy(row.project_id, "whatsapp_lid", row.whatsapp_lid));
  return refs;
}

/** The contact as events carry it: identity and CRM fields, not bookkeeping timestamps. */
export const snapshot = (c: Contact) => ({
  id: c.id,
  name: c.name,
  phone: c.phone,
  email: c.email,
  tags: c.tags,
  customFields: c.customFields,
  externalId: c.externalId,
});

export function toContact(row: ContactRow): Contact {
  return {
    id: row.id,
    name: row.name,
    phone: row.phone,
    email: row.email,
    tags: row.tags,
    customFields: row.custom_fields,
    externalId: row.external_id,
    whatsapp: { wid: row.whatsapp_wid, lid: row.whatsapp_lid },
    firstInteractionAt: row.first_interaction_at?.toISOString() ?? null,
    lastInteractionAt: row.last_interaction_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
