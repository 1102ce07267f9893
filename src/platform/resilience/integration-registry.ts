import type { CallCounts, LatencyPercentiles } from "./integration-stats.ts";
import { scoreIntegration, type IntegrationScore, type ScoreFacts } from "./integration-score.ts";
import type { PolicySettings } from "./policy-settings.ts";

export type BreakerStateName = "closed" | "open" | "half_open" | "isolated" | "disabled";

/**
 * What an adapter states about itself when it registers its policy; these earn the
 * security and testing points, so declare only what exists (a test suite, a check).
 */
export interface IntegrationDeclarations {
  /** Calls carry credentials (API key, bearer token). */
  authentication?: boolean;
  /** Its inbound callbacks are verified by signature/HMAC (or it signs what it sends). */
  signature?: boolean;
  /** Inputs and provider answers are schema-validated. */
  inputValidation?: boolean;
  tests?: { unit?: boolean; integration?: boolean; e2e?: boolean };
}

/** The live state of one integration, read when `GET /v1/integrations` is served. */
export interface IntegrationSnapshot {
  integration: string;
  settings: PolicySettings;
  breakerState: BreakerStateName;
  counts: CallCounts;
  latencyMs: LatencyPercentiles | null;
  facts: ScoreFacts;
}

export interface RegisteredIntegration {
  readonly integration: string;
  snapshot(): IntegrationSnapshot;
}

export interface IntegrationReport extends IntegrationSnapshot {
  score: IntegrationScore;
}

/** Every integration policy of the process, one per name (an app has one registry). */
export class IntegrationRegistry {
  private readonly entries = new Map<string, RegisteredIntegration>();

  /** Adds an integration; a second one with the same name is a programming error. */
  register(entry: RegisteredIntegration): () => void {
    if (this.entries.has(entry.integration))
      throw new Error(`integration "${entry.integration}" is already registered`);
    this.entries.set(entry.integration, entry);
    return () => {
      if (this.entries.get(entry.integration) === entry) this.entries.delete(entry.integration);
    };
  }

  get(integration: string): RegisteredIntegration | undefined {
    return this.entries.get(integration);
  }

  /** Snapshots with their scores, by name. */
  list(): IntegrationReport[] {
    return [...this.entries.values()]
      .map((entry) => entry.snapshot())
      .sort((a, b) => a.integration.localeCompare(b.integration))
      .map((snapshot) => ({ ...snapshot, score: scoreIntegration(snapshot.facts) }));
  }
}
