import { describe, expect, it } from "vitest";
import { constantTimeEquals, hashApiKey } from "./api-keys.ts";

describe("hashApiKey", () => {
  it("is SHA-256 in lower-case hex", () => {
    // FIPS 180-2 test vector.
    expect(hashApiKey("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(hashApiKey("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("is deterministic", () => {
    const key = "vtr_3q2-7wEXAMPLEkeyWithEnoughEntropy_abcdefghijklmnop";
    expect(hashApiKey(key)).toBe(hashApiKey(key));
  });

  it("gives 64 hex characters that do not contain the key", () => {
    const key = "vtr_abcdef0123456789";
    const hash = hashApiKey(key);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain("abcdef0123456789");
  });

  it("differs for keys that differ in one character or in case", () => {
    const hashes = new Set(
      ["vtr_key-a", "vtr_key-b", "vtr_KEY-a", "vtr_key-a ", "vtr_key-"].map(hashApiKey),
    );
    expect(hashes.size).toBe(5);
  });
});

describe("constantTimeEquals", () => {
  it("is true for equal strings", () => {
    expect(constantTimeEquals("s3cret-admin-token", "s3cret-admin-token")).toBe(true);
    expect(constantTimeEquals("", "")).toBe(true);
  });

  it("is false for different strings of the same length", () => {
    expect(constantTimeEquals("s3cret-admin-token", "s3cret-admin-tokeN")).toBe(false);
    expect(constantTimeEquals("aaaa", "aaab")).toBe(false);
  });

  it("is false, without throwing, for strings of different lengths", () => {
    expect(() => constantTimeEquals("short", "a much longer string")).not.toThrow();
    expect(constantTimeEquals("short", "a much longer string")).toBe(false);
    expect(constantTimeEquals("token", "token ")).toBe(false);
    expect(constantTimeEquals("", "x")).toBe(false);
    expect(constantTimeEquals("x", "")).toBe(false);
  });

  it("compares non-ASCII input correctly", () => {
    expect(constantTimeEquals("ção", "ção")).toBe(true);
    expect(constantTimeEquals("ção", "cão")).toBe(false);
  });
});
