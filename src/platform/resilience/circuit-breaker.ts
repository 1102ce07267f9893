import {
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleAll,
  type CircuitBreakerPolicy,
} from "cockatiel";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/metrics.ts";

export interface BreakerOptions {
  integration: string;
  /** Consecutive failures that open the circuit. */
  threshold: number;
  /** Time open before one probe call is let through (half-open). */
  halfOpenAfterMs: number;
}

const GAUGE: Record<CircuitState, number> = {
  [CircuitState.Closed]: 0,
  [CircuitState.HalfOpen]: 1,
  [CircuitState.Open]: 2,
  [CircuitState.Isolated]: 2,
};

/**
 * A cockatiel circuit breaker whose state is exported as
 * `ventros_circuit_breaker_state{integration}` and whose transitions are logged.
 */
export function createCircuitBreaker(
  options: BreakerOptions,
  deps: { logger: Logger; metrics: Metrics },
): CircuitBreakerPolicy {
  const breaker = circuitBreaker(handleAll, {
    halfOpenAfter: options.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(options.threshold),
  });
  const gauge = deps.metrics.circuitBreakerState.labels({ integration: options.integration });
  gauge.set(0);
  breaker.onStateChange((state) => {
    gauge.set(GAUGE[state]);
    const log = state === CircuitState.Closed ? deps.logger.info : deps.logger.warn;
    log.call(
      deps.logger,
      { integration: options.integration, state: CircuitState[state] },
      "circuit breaker state changed",
    );
  });
  return breaker;
}
