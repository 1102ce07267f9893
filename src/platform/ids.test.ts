import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

type Uuidv7 = (now?: number) => string;

/** The generator keeps per-process state, so each test loads a fresh copy of the module. */
let uuidv7: Uuidv7;
let UUID_PATTERN: string;

beforeEach(async () => {
  vi.resetModules();
  ({ uuidv7, UUID_PATTERN } = await import("./ids.ts"));
});

afterEach(() => {
  vi.useRealTimers();
});

const hexOf = (id: string) => id.replace(/-/g, "");
/** The 48-bit Unix ms timestamp in the first 6 bytes. */
const timestampOf = (id: string) => parseInt(hexOf(id).slice(0, 12), 16);
/** The 12-bit rand_a field after the version nibble, which carries the counter. */
const counterOf = (id: string) => parseInt(hexOf(id).slice(13, 16), 16);

const T = Date.UTC(2026, 0, 15, 12, 30, 45, 123);

describe("uuidv7 format", () => {
  it("has the 8-4-4-4-12 lower-case hex shape", () => {
    const id = uuidv7(T);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(id).toMatch(new RegExp(UUID_PATTERN));
  });

  it("sets version 7 and variant 10 on every id", () => {
    for (let i = 0; i < 500; i += 1) {
      const id = uuidv7(T + Math.floor(i / 3));
      expect(id[14]).toBe("7");
      const variantNibble = parseInt(id[19] as string, 16);
      expect(variantNibble >> 2).toBe(0b10);
    }
  });

  it("keeps random bits in rand_b", () => {
    const tails = new Set<string>();
    for (let i = 0; i < 100; i += 1) tails.add(hexOf(uuidv7(T)).slice(17));
    expect(tails.size).toBe(100);
  });
});

describe("uuidv7 timestamp", () => {
  it.each([
    ["a 2026 date", T],
    ["the epoch", 0],
    ["a value using all 48 bits", 0xfedcba987654],
    ["the largest 48-bit value", 2 ** 48 - 1],
    ["a value over 2^32 with low bits set", 2 ** 32 + 0xabcdef],
  ])("encodes %s in the first 48 bits", (_name, ms) => {
    expect(timestampOf(uuidv7(ms))).toBe(ms);
  });

  it("spells the timestamp big-endian", () => {
    expect(uuidv7(0x0123456789ab).slice(0, 13)).toBe("01234567-89ab");
  });

  it("uses the current time by default", () => {
    vi.useFakeTimers();
    vi.setSystemTime(T);
    expect(timestampOf(uuidv7())).toBe(T);
    vi.setSystemTime(T + 5_000);
    expect(timestampOf(uuidv7())).toBe(T + 5_000);
  });
});

describe("uuidv7 ordering", () => {
  it("is strictly increasing across 10,000 calls in the same millisecond", () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7(T));
    for (let i = 1; i < ids.length; i += 1) {
      expect(ids[i - 1]! < ids[i]!).toBe(true);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("counts up by one within a millisecond and rolls into the next one on overflow", () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7(T));
    // The first counter starts in the lower half so a millisecond has room for 2048+ ids.
    expect(counterOf(ids[0]!)).toBeLessThanOrEqual(0x7ff);
    expect(timestampOf(ids[0]!)).toBe(T);
    for (let i = 1; i < ids.length; i += 1) {
      const [prev, next] = [ids[i - 1]!, ids[i]!];
      if (timestampOf(next) === timestampOf(prev)) {
        expect(counterOf(next)).toBe(counterOf(prev) + 1);
      } else {
        expect(counterOf(prev)).toBe(0xfff);
        expect(timestampOf(next)).toBe(timestampOf(prev) + 1);
        expect(counterOf(next)).toBe(0);
      }
    }
    // 10,000 ids cannot fit in one millisecond of 4096 counter values.
    expect(timestampOf(ids.at(-1)!)).toBeGreaterThan(T);
  });

  it("is strictly increasing across milliseconds and decodes each one", () => {
    let previous = "";
    for (let ms = T; ms < T + 200; ms += 1) {
      for (let k = 0; k < 3; k += 1) {
        const id = uuidv7(ms);
        expect(timestampOf(id)).toBe(ms);
        expect(id > previous).toBe(true);
        previous = id;
      }
    }
  });

  it("stays increasing when the clock goes backwards", () => {
    const first = uuidv7(T + 1_000);
    const second = uuidv7(T);
    const third = uuidv7(T + 500);
    expect(second > first).toBe(true);
    expect(third > second).toBe(true);
    expect(timestampOf(second)).toBe(T + 1_000);
    expect(timestampOf(third)).toBe(T + 1_000);
  });

  it("uses the real time again once it catches up after an overflow", () => {
    for (let i = 0; i < 5_000; i += 1) uuidv7(T);
    const later = uuidv7(T + 10);
    expect(timestampOf(later)).toBe(T + 10);
  });

  it("sorts by creation order", () => {
    const ids = [uuidv7(T), uuidv7(T), uuidv7(T + 1), uuidv7(T + 1), uuidv7(T + 7)];
    expect([...ids].reverse().sort()).toEqual(ids);
  });
});
