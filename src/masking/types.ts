// The masking section of the policy file, as masking/ consumes it, and the names shared
// by the detectors. The policy engineer validates the file with zod (src/policy); this
// interface is kept structurally identical to that schema's `MaskingPolicy` so a
// validated policy can be passed straight to createMasker. Nothing here is read from
// disk or the environment: masking/ only ever sees values handed to it.
import type { NumberRun } from './detectors/number-runs.js';

export const DETECTOR_KINDS = [
  'email',
  'phone',
  'credit-card',
  'iban',
  'jwt',
  'bearer-token',
  'aws-access-key',
  'aws-secret-key',
  'gcp-private-key',
  'gcp-api-key',
  'github-token',
  'gitlab-token',
  'slack-token',
  'stripe-key',
  'openai-key',
  'anthropic-key',
  'private-key',
  'ipv4',
  'ipv6',
] as const;

export type DetectorKind = (typeof DETECTOR_KINDS)[number];

export const MASK_STRATEGIES = ['redact', 'partial', 'hash', 'null'] as const;

export type MaskStrategy = (typeof MASK_STRATEGIES)[number];

export interface ColumnRule {
  /** `schema.table.column`; `table.column` means schema `public`. Case-sensitive, as stored in the catalog. */
  column: string;
  strategy: MaskStrategy;
  /** `partial` only: how many trailing characters (code points) stay visible. */
  keep?: number;
  /** json/jsonb columns only: mask at these paths instead of the whole value. */
  jsonPaths?: readonly string[];
}

export interface MaskingConfig {
  /** HMAC key for the `hash` strategy; required (16+ characters) when any rule hashes. */
  hashKey?: string;
  /** Which detectors run on every text and JSON value. Absent means `all`: fail closed. */
  detectors?: 'all' | 'none' | readonly DetectorKind[];
  columns?: readonly ColumnRule[];
}

/** One detector hit: a half-open range of UTF-16 code units in the scanned string. */
export interface Match {
  start: number;
  end: number;
  kind: DetectorKind;
}

/** Where a scan is looking, and what detectors share while scanning one string. */
export interface ScanContext {
  /** The JSON key (or column name) the scanned value sits under, if any. */
  readonly hint: string | undefined;
  /** Digit runs of the scanned string (detectors/number-runs.ts), computed on first use. */
  numberRuns(): readonly NumberRun[];
  /**
   * PEM private key blocks of the scanned string (detectors/private-key.ts), computed on
   * first use: the generic and the GCP detector both need them.
   */
  privateKeyBlocks(): readonly TextRange[];
  /**
   * Where an IBAN may start (two capitals of a country code, then two digits), as a
   * prefilter pass over the same text found them; null (or absent) when the detector
   * must look for itself.
   */
  ibanStarts?(): readonly number[] | null;
}

export interface TextRange {
  start: number;
  end: number;
}

export interface Detector {
  readonly kind: DetectorKind;
  /** Appends every hit in `text` to `out`, in any order; overlaps are resolved later. */
  scan(text: string, out: Match[], ctx: ScanContext): void;
}

// One string per kind, flattened once: a template built per hit is a cons string, and
// reading it code unit by code unit (byte-edits.ts writes markers into the frame that
// way) flattens it again every time.
const MARKERS = Object.fromEntries(DETECTOR_KINDS.map((k) => [k, Buffer.from(`[redacted:${k}]`, 'latin1').toString('latin1')])) as Record<DetectorKind, string>;

/** The marker a detector hit is replaced with: ASCII, no quote, backslash, comma, brace or space. */
export function markerFor(kind: DetectorKind): string {
  return MARKERS[kind];
}

export function isDetectorKind(s: string): s is DetectorKind {
  return (DETECTOR_KINDS as readonly string[]).includes(s);
}
