import { sql, type Kysely } from "kysely";
import { MAX_CUSTOM_FIELDS, mergeCustomFields, normalizePhone } from "../domain/contact-rules.ts";
import type { Queryable } from "../platform/db/database.ts";
import type { DB } from "../platform/db/schema.ts";
import { notFound, validationError } from "../platform/errors.ts";
import { uuidv7 } from "../platform/ids.ts";
import { mapConflict, normalizeInput, type ContactInput } from "./contact-input.ts";
import { refsOf, snapshot, toContact, type Contact } from "./contact-view.ts";
import { cacheRef, type EntityCache } from "./entity-cache.ts";
import { decodeCursor, toPage, type Page } from "./pagination.ts";
import type { UnitOfWork } from "./unit-of-work.ts";

export interface ContactFilters {
  q?: string;
  phone?: string;
  email?: string;
  tag?: string;
  createdAfter?: string;
  createdBefore?: string;
  limit: number;
  cursor?: string;
}

export class Contacts {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly uow: UnitOfWork,
    private readonly cache: EntityCache,
  ) {}

  async create(projectId: string, input: ContactInput & { name: string }, db: Queryable = this.db) {
    const values = normalizeInput(input);
    const now = new Date();
    return this.uow.run(async ({ trx, emit }) => {
      try {
        const row = await trx
          .insertInto("contacts")
          .values({
            id: uuidv7(),
            project_id: projectId,
            name: input.name.trim(),
            phone: values.phone ?? null,
            email: values.email ?? null,
            tags: values.tags ?? [],
            custom_fields: JSON.stringify(values.customFields ?? {}),
            external_id: values.externalId ?? null,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const contact = toContact(row);
        emit("contact.created", {
          projectId,
          aggregateId: contact.id,
          data: { contact: snapshot(contact) },
        });
        return contact;
      } catch (error) {
        throw mapConflict(error);
      }
    }, db);
  }

  /**
   * A contact, read through the cache (misses too, for the negative TTL). Inside a
   * caller's transaction the database answers: it may see that transaction's own writes.
   */
  async get(projectId: string, id: string, db: Queryable = this.db): Promise<Contact> {
    if (db !== this.db) return toContact(await this.findRow(projectId, id, db));
    const contact = await this.cache.read(cacheRef.contact(projectId, id), () =>
      this.load(projectId, id),
    );
    if (!contact) throw notFound("contact");
    return contact;
  }

  /** The contact with this phone (digits), or undefined; through the cache. */
  async findByPhone(projectId: string, phone: string): Promise<Contact | undefined> {
    const ref = cacheRef.contactBy(projectId, "phone", phone);
    // The phone -> id entry is a hint: only found ids are cached, and the contact it
    // points to (an entry invalidated on every write) must still have this phone.
    const hinted = await this.cache.read(ref, () => this.idByPhone(projectId, phone), {
      negativeTtlMs: 0,
    });
    if (hinted) {
      const contact = await this.get(projectId, hinted).catch(() => undefined);
      if (contact?.phone === phone) return contact;
      await this.cache.invalidate([ref], { repeat: false });
    }
    const id = await this.idByPhone(projectId, phone);
    return id ? this.get(projectId, id) : undefined;
  }

  async update(projectId: string, id: string, input: ContactInput): Promise<Contact> {
    const values = normalizeInput(input);
    return this.uow.run(async (context) => {
      const { trx, emit } = context;
      // Lock the row so concurrent merge patches of customFields do not lose updates.
      const current = await this.findRow(projectId, id, trx, true);
      const customFields =
        values.customFields === undefined
          ? undefined
          : mergeCustomFields(current.custom_fields, values.customFields);
      if (customFields && Object.keys(customFields).length > MAX_CUSTOM_FIELDS) {
        throw validationError([
          { field: "customFields", message: `at most ${MAX_CUSTOM_FIELDS} keys` },
        ]);
      }
      try {
        const row = await trx
          .updateTable("contacts")
          .set({
            updated_at: new Date(),
            ...(input.name === undefined ? {} : { name: input.name.trim() }),
            ...(values.phone === undefined ? {} : { phone: values.phone }),
            ...(values.email === undefined ? {} : { email: values.email }),
            ...(values.tags === undefined ? {} : { tags: values.tags }),
            ...(values.externalId === undefined ? {} : { external_id: values.externalId }),
            ...(customFields === undefined ? {} : { custom_fields: JSON.stringify(customFields) }),
          })
          .where("id", "=", current.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        this.cache.afterCommit(context, ...refsOf(current), ...refsOf(row));
        const before = snapshot(toContact(current));
        const contact = toContact(row);
        const after = snapshot(contact);
        const changes = (Object.keys(after) as (keyof typeof after)[]).filter(
          (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]),
        );
        if (changes.length > 0) {
          emit("contact.updated", {
            projectId,
            aggregateId: contact.id,
            data: { contact: after, changes },
          });
        }
        return contact;
      } catch (error) {
        throw mapConflict(error);
      }
    });
  }

  async delete(projectId: string, id: string): Promise<void> {
    await this.uow.run(async (context) => {
      const row = await context.trx
        .updateTable("contacts")
        .set({ deleted_at: new Date(), updated_at: new Date() })
        .where("project_id", "=", projectId)
        .where("id", "=", id)
        .where("deleted_at", "is", null)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw notFound("contact");
      this.cache.afterCommit(context, ...refsOf(row));
      context.emit("contact.deleted", { projectId, aggregateId: id, data: { contactId: id } });
    });
  }

  async list(projectId: string, filters: ContactFilters): Promise<Page<Contact>> {
    const { phone, limit, cursor, ...others } = filters;
    // `?phone=` alone: phones are unique per project, so the page is that one contact.
    if (phone !== undefined && !cursor && Object.values(others).every((v) => v === undefined)) {
      const digits = normalizePhone(phone);
      if (!digits) throw validationError([{ field: "phone", message: "is not a phone number" }]);
      const contact = limit > 0 ? await this.findByPhone(projectId, digits) : undefined;
      return { data: contact ? [contact] : [], nextCursor: null };
    }
    let query = this.db
      .selectFrom("contacts")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("deleted_at", "is", null);
    if (filters.cursor) query = query.where("id", "<", decodeCursor(filters.cursor));
    if (filters.phone !== undefined) {
      const phone = normalizePhone(filters.phone);
      if (!phone) throw validationError([{ field: "phone", message: "is not a phone number" }]);
      query = query.where("phone", "=", phone);
    }
    if (filters.email !== undefined)
      query = query.where("email", "=", filters.email.trim().toLowerCase());
    if (filters.tag !== undefined) {
      // One text[] parameter: a bare JS array would be spread into a `($1, ...)` list.
      const tag = filters.tag.trim().toLowerCase();
      query = query.where("tags", "@>", sql<string[]>`array[${tag}]::text[]`);
    }
    if (filters.createdAfter)
      query = query.where("created_at", ">", new Date(filters.createdAfter));
    if (filters.createdBefore)
      query = query.where("created_at", "<", new Date(filters.createdBefore));
    if (filters.q) {
      const pattern = `%${filters.q.trim().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      // Phone matching only for a phone-like query ("+55 (11) 9888"): the digits of a word
      // such as "ana2024x" are not a phone number and made unrelated contacts match.
      const phoneLike = /^[+\d\s().-]+$/.test(filters.q.trim());
      const digits = phoneLike ? filters.q.replace(/\D/g, "") : "";
      query = query.where((eb) =>
        eb.or([
          eb("name", "ilike", pattern),
          eb("email", "ilike", pattern),
          ...(digits.length >= 3 ? [eb("phone", "like", `%${digits}%`)] : []),
        ]),
      );
    }
    const rows = await query
      .orderBy("id", "desc")
      .limit(filters.limit + 1)
      .execute();
    return toPage(rows, filters.limit, toContact);
  }

  private async load(projectId: string, id: string): Promise<Contact | undefined> {
    const row = await this.db
      .selectFrom("contacts")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("id", "=", id)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    return row && toContact(row);
  }

  private async idByPhone(projectId: string, phone: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom("contacts")
      .select("id")
      .where("project_id", "=", projectId)
      .where("phone", "=", phone)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    return row?.id;
  }

  private async findRow(projectId: string, id: string, db: Queryable, forUpdate = false) {
    let query = db
      .selectFrom("contacts")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("id", "=", id)
      .where("deleted_at", "is", null);
    if (forUpdate) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row) throw notFound("contact");
    return row;
  }
}
