/**
 * Phone numbers are stored as E.164 digits without "+": what WhatsApp ids use
 * (`5511999990000@c.us`), so inbound messages and API-created contacts meet.
 * Accepts "+55 (11) 99999-0000", "0055...", "5511999990000". Returns undefined when the
 * result cannot be an E.164 number (8 to 15 digits, no leading zero).
 */
export function normalizePhone(input: string): string | undefined {
  const trimmed = input.trim();
  if (!/^[+\d][\d\s().-]*$/.test(trimmed)) return undefined;
  let digits = trimmed.replace(/\D/g, "");
  if (!trimmed.startsWith("+") && digits.startsWith("00")) digits = digits.slice(2);
  if (!/^[1-9]\d{7,14}$/.test(digits)) return undefined;
  return digits;
}

/** Practical address check (RFC 5322 is broader than any mail system accepts). */
const EMAIL =
  /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

export function normalizeEmail(input: string): string | undefined {
  const email = input.trim().toLowerCase();
  return email.length <= 254 && EMAIL.test(email) ? email : undefined;
}

/** Tags are trimmed, lower-cased and de-duplicated, so "VIP" and "vip " are one tag. */
export const normalizeTags = (tags: string[]): string[] => [
  ...new Set(tags.map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0)),
];

export type CustomFieldValue = string | number | boolean | null;

/**
 * RFC 7396 merge patch, one level deep: a key set to null is removed, other keys are
 * replaced, absent keys are kept.
 */
export function mergeCustomFields(
  current: Record<string, unknown>,
  patch: Record<string, CustomFieldValue>,
): Record<string, unknown> {
  const next: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return next;
}

export const MAX_CUSTOM_FIELDS = 100;
