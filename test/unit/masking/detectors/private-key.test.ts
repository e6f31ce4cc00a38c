import { describe, expect, it } from 'vitest';
import { found } from '../helpers.js';

const BODY = 'MIIEpAIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aozN3tihPmljnnudb9G3HecdI6\nvSD1PrBEq5CgiAq8gBAXKQkYQQtOZ0S2HwRhR8xZ0JmnRbRcE3YcZdvgKmQ==';

describe('private key detector', () => {
  it.each([
    ['PKCS#8', `-----BEGIN PRIVATE KEY-----\n${BODY}\n-----END PRIVATE KEY-----`],
    ['RSA', `-----BEGIN RSA PRIVATE KEY-----\n${BODY}\n-----END RSA PRIVATE KEY-----`],
    ['EC', `-----BEGIN EC PRIVATE KEY-----\n${BODY}\n-----END EC PRIVATE KEY-----`],
    ['OpenSSH', `-----BEGIN OPENSSH PRIVATE KEY-----\n${BODY}\n-----END OPENSSH PRIVATE KEY-----`],
    ['encrypted PKCS#8', `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${BODY}\n-----END ENCRYPTED PRIVATE KEY-----`],
    ['legacy encrypted', `-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F17F5316E2BAC89\n\n${BODY}\n-----END RSA PRIVATE KEY-----`],
    ['PGP', `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${BODY}\n-----END PGP PRIVATE KEY BLOCK-----`],
    ['CRLF', `-----BEGIN PRIVATE KEY-----\r\n${BODY}\r\n-----END PRIVATE KEY-----`],
  ])('finds a %s block', (_what, block) => {
    expect(found('private-key', `before\n${block}\nafter`)).toEqual([block]);
  });

  it('finds a block whose line breaks are escaped "\\n"', () => {
    const block = `-----BEGIN PRIVATE KEY-----\\n${BODY.replace('\n', '\\n')}\\n-----END PRIVATE KEY-----`;
    expect(found('private-key', `"key": "${block}\\n"`)).toEqual([block]);
  });

  it('masks a truncated block up to where the key text stops', () => {
    const text = `log: -----BEGIN RSA PRIVATE KEY-----\n${BODY}\n"} truncated`;
    expect(found('private-key', text)).toEqual([`-----BEGIN RSA PRIVATE KEY-----\n${BODY}`]);
  });

  it('finds two blocks', () => {
    const a = `-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----`;
    const b = `-----BEGIN EC PRIVATE KEY-----\nBBBB\n-----END EC PRIVATE KEY-----`;
    expect(found('private-key', `${a}\nand\n${b}`)).toEqual([a, b]);
  });

  it.each([
    ['a public key', `-----BEGIN PUBLIC KEY-----\n${BODY}\n-----END PUBLIC KEY-----`],
    ['a certificate', `-----BEGIN CERTIFICATE-----\n${BODY}\n-----END CERTIFICATE-----`],
    ['prose about private keys', 'never paste your PRIVATE KEY here'],
  ])('leaves %s alone', (_what, text) => {
    expect(found('private-key', text)).toEqual([]);
  });
});
