// The detectors in priority order, and the set a config enables. Order matters only
// when two hits cover the same span: the earlier, more specific kind names the marker
// ("Bearer sk-ant-..." is an anthropic-key, a PEM under "private_key" a gcp-private-key).
import { Trigger } from '../prefilter.js';
import type { Detector, DetectorKind, MaskingConfig } from '../types.js';
import { awsAccessKeyDetector, awsSecretKeyDetector } from './aws-keys.js';
import { bearerTokenDetector } from './bearer-token.js';
import { creditCardDetector } from './credit-card.js';
import { emailDetector } from './email.js';
import { gcpPrivateKeyDetector } from './gcp-private-key.js';
import { ibanDetector } from './iban.js';
import { ipv4Detector, ipv6Detector } from './ip-address.js';
import { jwtDetector } from './jwt.js';
import { phoneDetector } from './phone.js';
import { privateKeyDetector } from './private-key.js';
import {
  anthropicKeyDetector,
  gcpApiKeyDetector,
  githubTokenDetector,
  gitlabTokenDetector,
  openaiKeyDetector,
  slackTokenDetector,
  slackWebhookDetector,
  stripeKeyDetector,
} from './vendor-tokens.js';

export const ALL_DETECTORS: readonly Detector[] = [
  gcpPrivateKeyDetector,
  privateKeyDetector,
  jwtDetector,
  awsAccessKeyDetector,
  awsSecretKeyDetector,
  gcpApiKeyDetector,
  githubTokenDetector,
  gitlabTokenDetector,
  slackTokenDetector,
  slackWebhookDetector,
  stripeKeyDetector,
  anthropicKeyDetector,
  openaiKeyDetector,
  bearerTokenDetector,
  emailDetector,
  creditCardDetector,
  ibanDetector,
  phoneDetector,
  ipv6Detector,
  ipv4Detector,
];

export const DETECTOR_PRIORITY: Readonly<Record<DetectorKind, number>> = Object.fromEntries(
  ALL_DETECTORS.map((d, i) => [d.kind, i]),
) as Record<DetectorKind, number>;

export function enabledDetectors(selection: MaskingConfig['detectors']): readonly Detector[] {
  if (selection === undefined || selection === 'all') return ALL_DETECTORS;
  if (selection === 'none') return [];
  const wanted = new Set<DetectorKind>(selection);
  return ALL_DETECTORS.filter((d) => wanted.has(d.kind));
}

/** The prefilter bits (prefilter.ts) under which each kind can fire. */
export const TRIGGER_OF: Readonly<Record<DetectorKind, number>> = {
  email: Trigger.email,
  phone: Trigger.phone,
  'credit-card': Trigger.card,
  iban: Trigger.iban,
  jwt: Trigger.jwt,
  'bearer-token': Trigger.bearer,
  'aws-access-key': Trigger.awsAccess,
  'aws-secret-key': Trigger.awsSecret,
  // A PEM, or a private_key_id by its key name (prefilter.ts hintTriggers).
  'gcp-private-key': Trigger.privateKey,
  'gcp-api-key': Trigger.gcpApiKey,
  'github-token': Trigger.github,
  'gitlab-token': Trigger.gitlab,
  'slack-token': Trigger.slack,
  'stripe-key': Trigger.stripe,
  'openai-key': Trigger.openai,
  'anthropic-key': Trigger.anthropic,
  'private-key': Trigger.privateKey,
  ipv4: Trigger.ipv4,
  ipv6: Trigger.ipv6,
};
