import { describe, expect, it } from 'vitest';
import { isCardNumber, luhnValid } from '../../../../src/masking/detectors/credit-card.js';
import { found } from '../helpers.js';

describe('credit card detector', () => {
  it('implements Luhn', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('79927398713')).toBe(true);
  });

  it.each([
    ['visa', 'card 4111111111111111 exp', '4111111111111111'],
    ['visa spaced', '4111 1111 1111 1111', '4111 1111 1111 1111'],
    ['mastercard dashed', '5500-0000-0000-0004', '5500-0000-0000-0004'],
    ['mastercard 2-series', '2223000048400011', '2223000048400011'],
    ['amex 4-6-5', '3782 822463 10005', '3782 822463 10005'],
    ['discover', 'pay with 6011111111111117.', '6011111111111117'],
    ['visa 13', '4222222222222', '4222222222222'],
    ['in JSON', '{"card":"4111111111111111"}', '4111111111111111'],
    ['as a JSON number', '{"card":4111111111111111}', '4111111111111111'],
    ['after an underscore', 'tok_4111111111111111', '4111111111111111'],
  ])('finds %s', (_what, text, card) => {
    expect(found('credit-card', text)).toEqual([card]);
  });

  it('finds two cards in one grouped run', () => {
    expect(found('credit-card', '4111 1111 1111 1111 5500 0000 0000 0004')).toEqual(['4111 1111 1111 1111', '5500 0000 0000 0004']);
  });

  it('finds the card in a run with a trailing year group', () => {
    expect(found('credit-card', '4111 1111 1111 1111 2027')).toEqual(['4111 1111 1111 1111']);
  });

  it.each([
    ['a 16-digit order number failing Luhn', 'order 4111111111111112'],
    ['a Luhn-valid number with a non-card prefix', '1234567812345670'],
    ['a 20-digit run', '41111111111111110000'],
    ['a git SHA', 'commit 4111111111111111a94a8fe5ccb19ba61c4c0873d391e987982fbbd3'],
    ['digits glued to letters', 'x4111111111111111'],
    ['a 10-digit id', '4155552671'],
    ['a UUID', '123e4567-e89b-12d3-a456-426614174000'],
    ['a timestamp', '2024-05-01 12:34:56.789'],
    ['an epoch in ms', '1714567890123'],
  ])('leaves %s alone', (_what, text) => {
    expect(found('credit-card', text)).toEqual([]);
  });

  it('checks the network prefix', () => {
    expect(isCardNumber('4111111111111111')).toBe(true);
    expect(isCardNumber('7111111111111114')).toBe(false);
  });
});
