// Seeded randomness for property tests: a failing case can be replayed from its seed and case number.

/** A small linear congruential generator: numbers in [0, 1). */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

/** `bytes` cut into consecutive chunks of 1 to `maxChunk` bytes, as a socket might deliver them. */
export function randomChunks(bytes: Buffer, rnd: () => number, maxChunk: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let p = 0; p < bytes.length;) {
    const k = 1 + Math.floor(rnd() * maxChunk);
    chunks.push(bytes.subarray(p, p + k));
    p += k;
  }
  return chunks;
}
