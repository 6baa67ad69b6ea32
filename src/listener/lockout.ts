// Owns failed-login limiting: failures counted per client IP and per user name in a sliding window; past the
// limit both are locked out for a while. In memory: a restart forgives, as Postfix's anvil does.

export interface LockoutOptions { maxFailures: number; windowMs: number; lockoutMs: number; now: () => number }

export class Lockout {
  private failures = new Map<string, number[]>();
  private lockedUntil = new Map<string, number>();

  constructor(private readonly opts: LockoutOptions) {}

  private keys(ip: string, user: string): string[] {
    return [`ip:${ip}`, `user:${user.toLowerCase()}`];
  }

  isLocked(ip: string, user: string): boolean {
    const now = this.opts.now();
    return this.keys(ip, user).some((k) => (this.lockedUntil.get(k) ?? 0) > now);
  }

  /** Records a failure; returns true when this failure starts a lockout. */
  fail(ip: string, user: string): boolean {
    const now = this.opts.now();
    let locked = false;
    for (const k of this.keys(ip, user)) {
      const list = (this.failures.get(k) ?? []).filter((t) => t > now - this.opts.windowMs);
      list.push(now);
      this.failures.set(k, list);
      if (list.length >= this.opts.maxFailures && (this.lockedUntil.get(k) ?? 0) <= now) {
        this.lockedUntil.set(k, now + this.opts.lockoutMs);
        this.failures.delete(k);
        locked = true;
      }
    }
    this.prune(now);
    return locked;
  }

  succeed(ip: string, user: string): void {
    for (const k of this.keys(ip, user)) this.failures.delete(k);
  }

  private prune(now: number): void {
    if (this.failures.size + this.lockedUntil.size < 10_000) return;
    for (const [k, until] of this.lockedUntil) if (until <= now) this.lockedUntil.delete(k);
    for (const [k, list] of this.failures) if (!list.some((t) => t > now - this.opts.windowMs)) this.failures.delete(k);
  }
}
