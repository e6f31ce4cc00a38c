// API keys that announce their vendor with a fixed prefix: GitHub (ghp_ gho_ ghu_ ghs_
// ghr_ github_pat_), GitLab (glpat- and the other gl*- token types), Slack (xox?- tokens,
// xapp- app tokens, hooks.slack.com webhook URLs), Stripe (sk_/rk_ live and test keys,
// whsec_ webhook secrets), Anthropic (sk-ant-...), OpenAI-style (sk-..., sk-proj-...) and
// Google Cloud API keys (AIza + 35 characters or more).
// Each pattern is tried only where its prefix occurs (chars.ts nextAnchoredMatch), so
// text without the prefix costs one indexOf loop per kind; Slack has two detectors of
// one kind (tokens, webhook URLs).
import type { Detector, DetectorKind, Match } from '../types.js';
import { at, isDigit, isLower, isUpper, nextAnchoredMatch } from './chars.js';

interface PrefixRule {
  kind: DetectorKind;
  /** Every hit starts with one of `literals`, which all end in the character `last`. */
  last: string;
  literals: readonly string[];
  /** Sticky: tried at each literal. */
  pattern: RegExp;
  /** Extra check on the matched text, after the boundary check. */
  accept?: (token: string) => boolean;
}

function isTokenChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2d;
}

// "sk-" also starts ordinary hyphenated words ("sk-learn-compatible-wrapper"): a key
// body is random, so it has a digit and both cases.
function randomBody(token: string): boolean {
  let digit = false;
  let upper = false;
  let lower = false;
  for (let i = 3; i < token.length; i++) {
    const c = token.charCodeAt(i);
    digit ||= isDigit(c);
    upper ||= isUpper(c);
    lower ||= isLower(c);
  }
  return digit && upper && lower;
}

function prefixDetector(rule: PrefixRule): Detector {
  return {
    kind: rule.kind,
    scan(s: string, out: Match[]): void {
      const { pattern, last, literals } = rule;
      // A rejected match is skipped whole, as a global regex would resume after it.
      for (let m = nextAnchoredMatch(pattern, s, last, literals, 0); m !== null; m = nextAnchoredMatch(pattern, s, last, literals, m.index + m[0].length)) {
        const start = m.index;
        const end = start + m[0].length;
        if (isTokenChar(at(s, start - 1)) && !m[0].startsWith('http')) continue;
        if (rule.accept && !rule.accept(m[0])) continue;
        out.push({ start, end, kind: rule.kind });
      }
    },
  };
}

export const githubTokenDetector = prefixDetector({
  kind: 'github-token',
  last: '_',
  literals: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'],
  pattern: /gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255}/y,
});

export const gitlabTokenDetector = prefixDetector({
  kind: 'gitlab-token',
  last: '-',
  literals: ['glpat-', 'gldt-', 'glrt-', 'glptt-', 'glcbt-', 'glimt-', 'gloas-', 'glsoat-', 'glffct-', 'glft-', 'glagent-'],
  pattern: /gl(?:pat|dt|rt|ptt|cbt|imt|oas|soat|ffct|ft|agent)-[A-Za-z0-9_-]{20,}/y,
});

export const slackTokenDetector = prefixDetector({
  kind: 'slack-token',
  last: '-',
  literals: ['xoxa-', 'xoxb-', 'xoxp-', 'xoxo-', 'xoxs-', 'xoxr-', 'xoxe-', 'xapp-'],
  pattern: /xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,}/y,
});

export const slackWebhookDetector = prefixDetector({
  kind: 'slack-token',
  last: '/',
  literals: ['https://hooks.slack.com/', 'http://hooks.slack.com/'],
  pattern: /https?:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]+/y,
});

export const stripeKeyDetector = prefixDetector({
  kind: 'stripe-key',
  last: '_',
  literals: ['sk_live_', 'rk_live_', 'sk_test_', 'rk_test_', 'whsec_'],
  pattern: /(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,}/y,
});

export const anthropicKeyDetector = prefixDetector({
  kind: 'anthropic-key',
  last: '-',
  literals: ['sk-ant-'],
  pattern: /sk-ant-[A-Za-z0-9_-]{20,}/y,
});

export const openaiKeyDetector = prefixDetector({
  kind: 'openai-key',
  last: '-',
  literals: ['sk-'],
  pattern: /sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/y,
  accept: randomBody,
});

export const gcpApiKeyDetector = prefixDetector({
  kind: 'gcp-api-key',
  last: 'I',
  literals: ['AI'],
  pattern: /AIza[0-9A-Za-z_-]{35,}/y,
});
