import {
  MAX_CUSTOM_FIELDS,
  normalizeEmail,
  normalizePhone,
  normalizeTags,
  type CustomFieldValue,
} from "../domain/contact-rules.ts";
import { isUniqueViolation } from "../platform/db/database-errors.ts";
import { AppError, validationError } from "../platform/errors.ts";

type Field = { field: string; message: string };

export interface ContactInput {
  name?: string;
  phone?: string | null;
  email?: string | null;
  tags?: string[];
  customFields?: Record<string, CustomFieldValue>;
  externalId?: string | null;
}

/** The input normalized (E.164 digits, lower-cased email, deduplicated tags), or 400. */
export function normalizeInput(input: ContactInput) {
  const problems: Field[] = [];
  let phone: string | null | undefined;
  if (input.phone === null) phone = null;
  else if (input.phone !== undefined) {
    phone = normalizePhone(input.phone);
    if (!phone)
      problems.push({
        field: "phone",
        message: "must be a phone number with country code (8-15 digits)",
      });
  }
  let email: string | null | undefined;
  if (input.email === null) email = null;
  else if (input.email !== undefined) {
    email = normalizeEmail(input.email);
    if (!email) problems.push({ field: "email", message: "must be an email address" });
  }
  if (input.name !== undefined && input.name.trim() === "") {
    problems.push({ field: "name", message: "must not be blank" });
  }
  if (input.customFields && Object.keys(input.customFields).length > MAX_CUSTOM_FIELDS) {
    problems.push({ field: "customFields", message: `at most ${MAX_CUSTOM_FIELDS} keys` });
  }
  if (problems.length > 0) throw validationError(problems);
  return {
    phone,
    email,
    tags: input.tags === undefined ? undefined : normalizeTags(input.tags),
    customFields: input.customFields,
    externalId: input.externalId,
  };
}

/** A unique-constraint violation as the 409 the API documents for it. */
export function mapConflict(error: unknown): unknown {
  if (isUniqueViolation(error, "contacts_project_phone_key")) {
    return new AppError("CONTACT_PHONE_TAKEN", "conflict", "Another contact has this phone number");
  }
  if (isUniqueViolation(error, "contacts_project_external_id_key")) {
    return new AppError(
      "CONTACT_EXTERNAL_ID_TAKEN",
      "conflict",
      "Another contact has this externalId",
    );
  }
  return error;
}
