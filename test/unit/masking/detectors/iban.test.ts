import { describe, expect, it } from 'vitest';
import { ibanChecksumValid } from '../../../../src/masking/detectors/iban.js';
import { found } from '../helpers.js';

describe('IBAN detector', () => {
  it.each([
    ['DE89370400440532013000', 'DE89370400440532013000'],
    ['iban DE89 3704 0044 0532 0130 00 ok', 'DE89 3704 0044 0532 0130 00'],
    ['GB82 WEST 1234 5698 7654 32', 'GB82 WEST 1234 5698 7654 32'],
    ['FR1420041010050500013M02606', 'FR1420041010050500013M02606'],
    ['NO9386011117947', 'NO9386011117947'],
    ['{"iban":"NL91ABNA0417164300"}', 'NL91ABNA0417164300'],
  ])('finds it in %j', (text, iban) => {
    expect(found('iban', text)).toEqual([iban]);
  });

  it('stops at the country length even when more text follows', () => {
    expect(found('iban', 'DE89 3704 0044 0532 0130 00 EUR')).toEqual(['DE89 3704 0044 0532 0130 00']);
  });

  it.each([
    ['a bad checksum', 'DE89370400440532013001'],
    ['a wrong length', 'DE8937040044053201300'],
    ['an unknown country', 'ZZ89370400440532013000'],
    ['a product code', 'SKU DE12 ABCD'],
    ['glued to a word', 'XDE89370400440532013000'],
    ['lower case', 'de89370400440532013000'],
  ])('leaves %s alone', (_what, text) => {
    expect(found('iban', text)).toEqual([]);
  });

  it('computes mod 97', () => {
    expect(ibanChecksumValid('GB82WEST12345698765432')).toBe(true);
    expect(ibanChecksumValid('GB82WEST12345698765433')).toBe(false);
  });
});
