// Owns the portal's in-memory rate limits: a fixed window per key (an IP, a portal id). Kept in the process; a
// restart forgets them, which the code lockout (stored with the record) does not.
export interface Limit { limit: number; windowMs: number }

export class RateLimiter {
  private readonly hits = new Map<string, { start: number; count: number }>();
  constructor(private readonly rule: Limit) {}

  /** Counts one hit for key; false when the key is over its limit in the current window. */
  hit(key: string, now: number): boolean {
    if (this.hits.size > 50_000) this.prune(now);
    const h = this.hits.get(key);
    if (!h || now - h.start >= this.rule.windowMs) {
      this.hits.set(key, { start: now, count: 1 });
      return this.rule.limit >= 1;
    }
    h.count++;
    return h.count <= this.rule.limit;
  }

  /** Milliseconds until key's window ends (for Retry-After). */
  retryAfterMs(key: string, now: number): number {
    const h = this.hits.get(key);
    return h ? Math.max(0, h.start + this.rule.windowMs - now) : 0;
  }

  private prune(now: number): void {
    for (const [k, h] of this.hits) if (now - h.start >= this.rule.windowMs) this.hits.delete(k);
  }
}
