// Owns the plain bytes of messages just accepted, kept in memory for their first delivery attempt, which then
// neither reads nor unseals the stored copy. Bounded in bytes; the oldest go first. Only a speed-up: a message
// not found here is read from the spool.
export class FreshBytes {
  private readonly kept = new Map<string, Buffer>();
  private total = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes held now. */
  get bytes(): number {
    return this.total;
  }

  keep(queueId: string, bytes: Buffer): void {
    this.take(queueId);
    if (bytes.length > this.maxBytes) return;
    this.kept.set(queueId, bytes);
    this.total += bytes.length;
    for (const [id, b] of this.kept) {
      if (this.total <= this.maxBytes) break;
      this.kept.delete(id);
      this.total -= b.length;
    }
  }

  /** The bytes kept for `queueId`, which are then no longer kept. */
  take(queueId: string): Buffer | undefined {
    const b = this.kept.get(queueId);
    if (b) {
      this.kept.delete(queueId);
      this.total -= b.length;
    }
    return b;
  }
}
