// Owns parsing of the duration ("5m", "4h", "5d") and size ("25MB") strings used in the config file.

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const DURATION_PATTERN = '^\\d+(ms|s|m|h|d)$';
export const SIZE_PATTERN = '^\\d+(B|KB|MB|GB)?$';

export function parseDuration(v: string | number): number {
  if (typeof v === 'number') return v * 1000;
  const m = DURATION.exec(v.trim());
  if (!m) throw new Error(`not a duration: ${v}`);
  return Number(m[1]) * DURATION_MS[m[2]!]!;
}

const SIZE_BYTES: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

export function parseSize(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+)(B|KB|MB|GB)?$/.exec(v.trim());
  if (!m) throw new Error(`not a size: ${v}`);
  return Number(m[1]) * SIZE_BYTES[m[2] ?? 'B']!;
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
