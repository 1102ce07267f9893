import {
  CircuitState,
  SamplingBreaker,
  circuitBreaker,
  handleWhen,
  type CircuitBreakerPolicy,
} from "cockatiel";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { IntegrationError } from "./integration-error.ts";
import type { BreakerStateName } from "./integration-registry.ts";
import type { BreakerSettings } from "./policy-settings.ts";

const STATE: Record<CircuitState, { name: BreakerStateName; gauge: number }> = {
  [CircuitState.Closed]: { name: "closed", gauge: 0 },
  [CircuitState.HalfOpen]: { name: "half_open", gauge: 1 },
  [CircuitState.Open]: { name: "open", gauge: 2 },
  [CircuitState.Isolated]: { name: "isolated", gauge: 2 },
};

/**
 * A failure means the provider is in trouble: retryable and indeterminate errors. A
 * permanent one is an answer (the provider works), and our own rejections and a caller's
 * cancellation say nothing about the provider.
 */
const providerFailure = (error: unknown) =>
  error instanceof IntegrationError &&
  error.rejectedBy === undefined &&
  error.code !== "INTEGRATION_CANCELLED" &&
  error.classification !== "permanent";

export interface SamplingCircuitBreaker {
  policy: CircuitBreakerPolicy;
  state(): BreakerStateName;
  /** True while a call would be refused without reaching the provider. */
  isRejecting(): boolean;
}

/**
 * Cockatiel's SamplingBreaker (failure ratio over a window, a minimum number of calls,
 * one probe after `halfOpenAfterMs`), exported as `ventros_circuit_breaker_state` and
 * with every transition logged.
 */
export function createSamplingCircuitBreaker(
  integration: string,
  settings: BreakerSettings,
  deps: { logger?: Logger | undefined; metrics?: Metrics | undefined },
): SamplingCircuitBreaker {
  const policy = circuitBreaker(handleWhen(providerFailure), {
    halfOpenAfter: settings.halfOpenAfterMs,
    breaker: new SamplingBreaker({
      threshold: settings.failureRatio,
      duration: settings.windowMs,
      // Cockatiel takes a minimum rate, not a count: it opens only once the window holds
      // at least window x rate calls. Half a call less keeps float rounding from
      // demanding one call too many.
      minimumRps: ((settings.minRequests - 0.5) * 1000) / settings.windowMs,
    }),
  });
  let openedAt = 0;
  const gauge = deps.metrics?.circuitBreakerState.labels({ integration });
  gauge?.set(0);
  policy.onStateChange((state) => {
    if (state === CircuitState.Open) openedAt = Date.now();
    gauge?.set(STATE[state].gauge);
    const level = state === CircuitState.Closed ? "info" : "warn";
    deps.logger?.[level](
      { integration, state: STATE[state].name },
      "circuit breaker state changed",
    );
  });
  return {
    policy,
    state: () => STATE[policy.state].name,
    isRejecting() {
      // Half-open: the probe is in flight and other calls wait for its outcome.
      if (policy.state === CircuitState.HalfOpen || policy.state === CircuitState.Isolated)
        return true;
      // Cockatiel moves Open -> HalfOpen lazily, on the first call after the delay.
      return policy.state === CircuitState.Open && Date.now() - openedAt < settings.halfOpenAfterMs;
    },
  };
}
