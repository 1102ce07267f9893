/** Thrown when a token would take longer than the caller is willing to wait. */
export class TokenBucketEmptyError extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`rate limit reached; next token in ${Math.ceil(retryAfterMs)} ms`);
    this.name = "TokenBucketEmptyError";
  }
}

/**
 * A client-side token bucket: `perSecond` tokens added continuously up to `burst`. A
 * caller that finds it empty reserves the next token (the balance goes negative) and
 * sleeps until it is due, so waiting callers are paced first come, first served.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly settings: { perSecond: number; burst: number },
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(settings.perSecond > 0)) throw new RangeError("perSecond must be positive");
    this.tokens = settings.burst;
    this.updatedAt = now();
  }

  /** Tokens available now (negative when callers are already waiting). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /**
   * Takes a token: resolves at once or after the wait it reserved. Rejects with
   * TokenBucketEmptyError (reserving nothing) when that wait would exceed `maxWaitMs`,
   * or with the signal's reason when aborted while waiting (the token is given back).
   */
  async acquire(maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return;
    }
    const waitMs = ((1 - this.tokens) / this.settings.perSecond) * 1000;
    if (waitMs > maxWaitMs) throw new TokenBucketEmptyError(waitMs);
    this.tokens -= 1;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        this.tokens += 1;
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, Math.ceil(waitMs));
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private refill() {
    const now = this.now();
    const elapsedSeconds = Math.max(0, now - this.updatedAt) / 1000;
    this.tokens = Math.min(
      this.settings.burst,
      this.tokens + elapsedSeconds * this.settings.perSecond,
    );
    this.updatedAt = now;
  }
}
