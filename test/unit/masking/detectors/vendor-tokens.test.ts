import { describe, expect, it } from 'vitest';
import type { DetectorKind } from '../../../../src/masking/types.js';
import { found } from '../helpers.js';

const GHP = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
const GH_PAT = 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV';
const GLPAT = 'glpat-xYz12AbC34dEf56GhI78';
const SLACK_BOT = 'xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx';
const SLACK_HOOK = 'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX';
const STRIPE_LIVE = 'sk_live_' + '4eC39HqLyjWDarjtT1zdp7dc';
const STRIPE_RK = 'rk_live_' + '51HabcDEFghiJKLmnoPQR';
const STRIPE_TEST = 'sk_test_' + '4eC39HqLyjWDarjtT1zdp7dc';
const OPENAI = 'sk-' + 'Ab3dEf6hIj9kLmN0pQr2sTu4vWx6yZ8aBcDeFgHiJkLmNoPq';
const OPENAI_PROJ = 'sk-proj-' + 'Ab3dEf6hIj9kLmN0pQr2sTu4vWx6yZ8aBc_DeFgHiJk-LmNoPq';
const ANTHROPIC = 'sk-ant-api03-' + 'Xk9vQ2mN8pL4rT6wY1zB3cD5eF7gH9jK0lM2nP4qR6sT8uV0wX-abcdefAA';

describe('vendor API key detectors', () => {
  it.each<[DetectorKind, string]>([
    ['github-token', GHP],
    ['github-token', 'gho_' + 'a'.repeat(36)],
    ['github-token', 'ghs_' + 'Z9'.repeat(18)],
    ['github-token', GH_PAT],
    ['gitlab-token', GLPAT],
    ['slack-token', SLACK_BOT],
    ['slack-token', 'xoxp-12345-67890-abcdefghij'],
    ['slack-token', 'xapp-1-A0123456789-0123456789-abcdef'],
    ['slack-token', SLACK_HOOK],
    ['stripe-key', STRIPE_LIVE],
    ['stripe-key', STRIPE_RK],
    ['stripe-key', STRIPE_TEST],
    ['stripe-key', 'whsec_' + 'AbCdEfGhIjKlMnOpQrStUvWx0123'],
    ['openai-key', OPENAI],
    ['openai-key', OPENAI_PROJ],
    ['anthropic-key', ANTHROPIC],
    ['gcp-api-key', 'AIzaSyDEMO-1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o'],
  ])('%s finds %s', (kind, token) => {
    expect(found(kind, `key: ${token} end`)).toEqual([token]);
    expect(found(kind, JSON.stringify({ key: token }))).toEqual([token]);
  });

  it('names an sk-ant- key anthropic, not openai', () => {
    expect(found('openai-key', ANTHROPIC)).toEqual([]);
  });

  it.each<[DetectorKind, string]>([
    ['github-token', 'ghp_short'],
    ['github-token', 'xghp_' + 'a'.repeat(36)],
    ['gitlab-token', 'glpat-short'],
    ['slack-token', 'xoxb-123'],
    ['slack-token', 'https://hooks.example.com/services/T0/B0/X'],
    ['stripe-key', 'pk_live_' + '4eC39HqLyjWDarjtT1zdp7dc'],
    ['stripe-key', 'sk_live_short'],
    ['openai-key', 'sk-learn-compatible-model-wrapper-thing'],
    ['openai-key', 'task-' + 'Ab3dEf6hIj9kLmN0pQr2sTu4'],
    ['openai-key', 'sk-short'],
    ['anthropic-key', 'sk-ant-short'],
    ['gcp-api-key', 'AIzaSyShort'],
    ['gcp-api-key', 'AI agents and AIza alone'],
  ])('%s leaves %s alone', (kind, text) => {
    expect(found(kind, text)).toEqual([]);
  });
});
