/**
 * The integration bar of INTEGRATIONS.md, each point backed by a fact about the running
 * process (see IntegrationRegistry):
 *
 *   score = resilience * 0.40 + security * 0.25 + testing * 0.20 + monitoring * 0.15
 *   resilience: timeout +3, retry with backoff +3, circuit breaker +4
 *   security:   authentication +4, signature/HMAC +3, input validation +3
 *   testing:    unit +3, integration +4, end-to-end +3
 *   monitoring: logging +5, metrics/tracing +5
 */
export interface ScoreFacts {
  timeout: boolean;
  retry: boolean;
  circuitBreaker: boolean;
  authentication: boolean;
  signature: boolean;
  inputValidation: boolean;
  unitTests: boolean;
  integrationTests: boolean;
  e2eTests: boolean;
  logging: boolean;
  metrics: boolean;
}

export const SCORE_POINTS: Record<keyof ScoreFacts, number> = {
  timeout: 3,
  retry: 3,
  circuitBreaker: 4,
  authentication: 4,
  signature: 3,
  inputValidation: 3,
  unitTests: 3,
  integrationTests: 4,
  e2eTests: 3,
  logging: 5,
  metrics: 5,
};

const CATEGORIES = {
  resilience: { weight: 40, facts: ["timeout", "retry", "circuitBreaker"] },
  security: { weight: 25, facts: ["authentication", "signature", "inputValidation"] },
  testing: { weight: 20, facts: ["unitTests", "integrationTests", "e2eTests"] },
  monitoring: { weight: 15, facts: ["logging", "metrics"] },
} as const;

export interface IntegrationScore {
  /** Each category 0-10. */
  resilience: number;
  security: number;
  testing: number;
  monitoring: number;
  /** 0-10, two decimals. */
  total: number;
  /** The points each fact earned (0 when not earned). */
  points: Record<keyof ScoreFacts, number>;
}

export function scoreIntegration(facts: ScoreFacts): IntegrationScore {
  const points = Object.fromEntries(
    Object.entries(SCORE_POINTS).map(([fact, value]) => [
      fact,
      facts[fact as keyof ScoreFacts] ? value : 0,
    ]),
  ) as Record<keyof ScoreFacts, number>;
  const category = (name: keyof typeof CATEGORIES) =>
    CATEGORIES[name].facts.reduce((sum, fact) => sum + points[fact], 0);
  const resilience = category("resilience");
  const security = category("security");
  const testing = category("testing");
  const monitoring = category("monitoring");
  // In hundredths with integers, so 10 - 1.6 is exactly 8.4.
  const hundredths =
    resilience * CATEGORIES.resilience.weight +
    security * CATEGORIES.security.weight +
    testing * CATEGORIES.testing.weight +
    monitoring * CATEGORIES.monitoring.weight;
  return { resilience, security, testing, monitoring, total: hundredths / 100, points };
}
