import { describe, expect, it } from "vitest";
import {
  mergeCustomFields,
  normalizeEmail,
  normalizePhone,
  normalizeTags,
  type CustomFieldValue,
} from "./contact-rules.ts";

describe("normalizePhone", () => {
  it.each([
    // accepted shapes, all meeting at the WhatsApp digits
    ["+55 (11) 99999-0000", "5511999990000"],
    ["+5511999990000", "5511999990000"],
    ["5511999990000", "5511999990000"],
    ["0055 11 99999 0000", "5511999990000"],
    ["005511999990000", "5511999990000"],
    ["55 11 99999 0000", "5511999990000"],
    ["55.11.99999.0000", "5511999990000"],
    ["55-11-99999-0000", "5511999990000"],
    ["+55.11.99999-0000", "5511999990000"],
    ["  +55 11 99999-0000  ", "5511999990000"],
    ["+55\t11\t99999\t0000", "5511999990000"],
    ["+1 (415) 555-2671", "14155552671"],
    ["+44 20 7946 0958", "442079460958"],
    // length bounds of E.164: 8 to 15 digits
    ["12345678", "12345678"],
    ["123456789012345", "123456789012345"],
    ["+123456789012345", "123456789012345"],
  ])("normalizes %j to %s", (input, expected) => {
    expect(normalizePhone(input)).toBe(expected);
  });

  it.each([
    ["", "empty"],
    ["   ", "blank"],
    ["+", "a lone plus"],
    ["()-. ", "punctuation only"],
    ["+55 11 9999A-0000", "a letter inside"],
    ["tel:+5511999990000", "a scheme prefix"],
    ["+55 11 99999-0000 ext 12", "an extension"],
    ["5511999990000x", "a trailing letter"],
    ["++5511999990000", "a doubled plus"],
    ["55+11999990000", "a plus in the middle"],
    ["(11) 99999-0000", "a leading parenthesis"],
    ["1234567", "7 digits (too short)"],
    ["+1234567", "7 digits with plus (too short)"],
    ["1234567890123456", "16 digits (too long)"],
    ["00 1234567", "7 digits after stripping 00"],
    ["0 11 99999 0000", "a single leading zero"],
    ["011999990000", "a leading zero (trunk prefix)"],
    ["000 11 99999 0000", "a zero left after stripping 00"],
    ["+0055 11 99999 0000", "00 after a plus (not an exit code)"],
    ["+011999990000", "a zero after the plus"],
    ["５５１１９９９９９００００", "full-width digits"],
    ["5511999990000;", "a trailing semicolon"],
  ])("rejects %j (%s)", (input) => {
    expect(normalizePhone(input)).toBeUndefined();
  });

  it("strips the 00 exit code only when there is no plus", () => {
    expect(normalizePhone("0044 20 7946 0958")).toBe("442079460958");
    expect(normalizePhone("+44 20 7946 0958")).toBe("442079460958");
  });

  it("is idempotent", () => {
    const once = normalizePhone("+55 (11) 99999-0000");
    expect(once).toBeDefined();
    expect(normalizePhone(once as string)).toBe(once);
  });
});

describe("normalizeEmail", () => {
  it.each([
    ["ana@example.com", "ana@example.com"],
    ["  Ana.Silva@Example.COM  ", "ana.silva@example.com"],
    ["first+tag@sub.example.co.uk", "first+tag@sub.example.co.uk"],
    ["o'brien@example.ie", "o'brien@example.ie"],
    ["a_b-c@my-host.example", "a_b-c@my-host.example"],
  ])("normalizes %j to %s", (input, expected) => {
    expect(normalizeEmail(input)).toBe(expected);
  });

  it.each([
    [""],
    ["   "],
    ["plainaddress"],
    ["@example.com"],
    ["ana@"],
    ["ana@localhost"],
    ["ana@@example.com"],
    ["ana example@example.com"],
    ["ana@-example.com"],
    ["ana@example-.com"],
    ["ana@example..com"],
    ["ana@exa_mple.com"],
  ])("rejects %j", (input) => {
    expect(normalizeEmail(input)).toBeUndefined();
  });

  it("accepts 254 characters and rejects 255", () => {
    const domain = `${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(60)}.com`;
    const at254 = `${"x".repeat(254 - domain.length - 1)}@${domain}`;
    expect(at254).toHaveLength(254);
    expect(normalizeEmail(at254)).toBe(at254);
    expect(normalizeEmail(`x${at254}`)).toBeUndefined();
  });

  it("measures the length after trimming", () => {
    const domain = `${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(60)}.com`;
    const at254 = `${"x".repeat(254 - domain.length - 1)}@${domain}`;
    expect(normalizeEmail(`   ${at254}   `)).toBe(at254);
  });

  it("rejects a domain label longer than 63 characters", () => {
    expect(normalizeEmail(`a@${"d".repeat(63)}.com`)).toBe(`a@${"d".repeat(63)}.com`);
    expect(normalizeEmail(`a@${"d".repeat(64)}.com`)).toBeUndefined();
  });
});

describe("normalizeTags", () => {
  it("trims, lower-cases and de-duplicates, keeping first-seen order", () => {
    expect(normalizeTags(["VIP", "vip ", " Lead", "lead", "vip", "Cold"])).toEqual([
      "vip",
      "lead",
      "cold",
    ]);
  });

  it("drops empty and blank tags", () => {
    expect(normalizeTags(["", "  ", "a", "\t"])).toEqual(["a"]);
  });

  it("returns an empty list for no tags", () => {
    expect(normalizeTags([])).toEqual([]);
  });

  it("keeps inner spaces", () => {
    expect(normalizeTags(["  Follow Up  "])).toEqual(["follow up"]);
  });

  it("does not modify its input", () => {
    const input = ["VIP", " vip"];
    normalizeTags(input);
    expect(input).toEqual(["VIP", " vip"]);
  });
});

describe("mergeCustomFields", () => {
  it("removes keys set to null", () => {
    expect(mergeCustomFields({ a: 1, b: "x" }, { a: null })).toEqual({ b: "x" });
  });

  it("replaces keys given another value, whatever the type", () => {
    expect(mergeCustomFields({ a: 1, b: "x", c: true }, { a: "one", b: 2, c: false })).toEqual({
      a: "one",
      b: 2,
      c: false,
    });
  });

  it("keeps keys absent from the patch", () => {
    expect(mergeCustomFields({ a: 1, b: 2 }, { c: 3 })).toEqual({ a: 1, b: 2, c: 3 });
  });

  it("handles remove, replace, add and keep in one patch", () => {
    expect(
      mergeCustomFields({ keep: "k", drop: "d", swap: 1 }, { drop: null, swap: 2, add: "new" }),
    ).toEqual({ keep: "k", swap: 2, add: "new" });
  });

  it("ignores null for a key that does not exist", () => {
    const merged = mergeCustomFields({ a: 1 }, { ghost: null });
    expect(merged).toEqual({ a: 1 });
    expect("ghost" in merged).toBe(false);
  });

  it("keeps falsy values that are not null", () => {
    expect(mergeCustomFields({ a: "x", b: 1, c: true }, { a: "", b: 0, c: false })).toEqual({
      a: "",
      b: 0,
      c: false,
    });
  });

  it("returns the same content for an empty patch, in a new object", () => {
    const current = { a: 1 };
    const merged = mergeCustomFields(current, {});
    expect(merged).toEqual({ a: 1 });
    expect(merged).not.toBe(current);
  });

  it("does not mutate the current fields or the patch", () => {
    const current: Record<string, unknown> = { a: 1, b: 2 };
    const patch: Record<string, CustomFieldValue> = { a: null, b: 3, c: 4 };
    const merged = mergeCustomFields(current, patch);
    expect(current).toEqual({ a: 1, b: 2 });
    expect(patch).toEqual({ a: null, b: 3, c: 4 });
    expect(merged).toEqual({ b: 3, c: 4 });
  });
});
