// Pure parsers of the CLI's value flags: budgets, shards, positive integers. Errors are one-line values.

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `500ms`, `5s`, `10m`, `1h` (a bare number is seconds) → milliseconds. */
export function parseBudget(text: string): Parsed<number> {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null && /^-\d/.test(text.trim())) return { ok: false, error: `--budget: '${text}' must be positive` };
  if (m === null) return { ok: false, error: `--budget: '${text}' is not a duration (e.g. 60s, 10m, 1h)` };
  const unit = (m[2] ?? 's') as keyof typeof UNIT_MS;
  const ms = Math.round(Number(m[1]) * UNIT_MS[unit]);
  if (ms <= 0) return { ok: false, error: `--budget: '${text}' must be positive` };
  return { ok: true, value: ms };
}

/** A shard `k/n`: 1 ≤ k ≤ n (1-based, as `--shard 1/4` .. `--shard 4/4`). */
export interface Shard {
  readonly k: number;
  readonly n: number;
}

export function parseShard(text: string): Parsed<Shard> {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (m === null) return { ok: false, error: `--shard: '${text}' is not k/n (e.g. 1/4)` };
  const k = Number(m[1]);
  const n = Number(m[2]);
  if (n < 1 || k < 1 || k > n) return { ok: false, error: `--shard: '${text}' needs 1 <= k <= n` };
  return { ok: true, value: { k, n } };
}

/** A non-negative integer flag (`--runs`, `--seed`, `--max-mem-pages`, `--jobs`) within [min, max]. */
export function parseIntFlag(flag: string, text: string, min: number, max: number): Parsed<number> {
  if (/^-\d+$/.test(text.trim()))
    return { ok: false, error: `--${flag}: ${text.trim()} is negative (at least ${min})` };
  if (!/^\d+$/.test(text.trim())) return { ok: false, error: `--${flag}: '${text}' is not an integer` };
  const v = Number(text);
  if (v < min || v > max) return { ok: false, error: `--${flag}: ${v} is outside [${min}, ${max}]` };
  return { ok: true, value: v };
}

const SIZE_UNITS = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 } as const;

/** A memory size with a binary unit: `512M`, `8G`, `8GiB`, `1.5t` → bytes. */
export function parseSize(flag: string, text: string): Parsed<number> {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt])(?:i?b)?$/i.exec(text.trim());
  if (m === null) return { ok: false, error: `--${flag}: '${text}' is not a size (e.g. 512M, 8G)` };
  const bytes = Math.round(Number(m[1]) * SIZE_UNITS[(m[2] as string).toLowerCase() as keyof typeof SIZE_UNITS]);
  if (bytes <= 0) return { ok: false, error: `--${flag}: '${text}' must be positive` };
  return { ok: true, value: bytes };
}
