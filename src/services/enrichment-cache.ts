import { createHash } from "node:crypto";
import type { Cache } from "../platform/cache/cache.ts";

/** What an AI enrichment derives from a message's content. */
export type EnrichmentKind = "transcription" | "image_description" | "document_text";

/** Everything the result depends on: the same key always means the same result. */
export interface EnrichmentKey {
  projectId: string;
  kind: EnrichmentKind;
  /** e.g. "groq", "openai", "gemini", "llamaparse", "local". */
  provider: string;
  model: string;
  /** `contentHash(bytes)` of the media or text enriched. */
  contentHash: string;
}

/** SHA-256 hex of the enriched content: identical media (a forwarded voice note) share it. */
export const contentHash = (content: Buffer | string) =>
  createHash("sha256").update(content).digest("hex");

/** Results live long: they never change for a key (a new model is a new key). */
export const ENRICHMENT_TTL_MS = 7 * 24 * 3_600_000;

/**
 * Enrichment results (transcripts, descriptions, extracted text) cached by what they
 * depend on, so the same content is sent to a paid provider once per project: one
 * computation per key per instance at a time, shared through Redis. Results are
 * immutable, so nothing invalidates them; failures and empty results are not cached.
 */
export class EnrichmentCache {
  constructor(
    private readonly cache: Cache,
    private readonly ttlMs = ENRICHMENT_TTL_MS,
  ) {}

  async getOrCompute<T extends object>(
    key: EnrichmentKey,
    compute: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    return this.cache.project(key.projectId).getOrSet<T>("enrichment", idOf(key), compute, {
      ttlMs: this.ttlMs,
      negativeTtlMs: 0,
      // A stale result is still the result: serve it whenever the refresh fails.
      graceMs: this.ttlMs,
    });
  }

  /** Drops one result (an operator correcting a provider's answer). */
  async forget(key: EnrichmentKey): Promise<void> {
    await this.cache.project(key.projectId).delete("enrichment", idOf(key));
  }
}

const idOf = (key: EnrichmentKey) =>
  [key.kind, key.provider, key.model, key.contentHash].map(encodeURIComponent).join(":");
