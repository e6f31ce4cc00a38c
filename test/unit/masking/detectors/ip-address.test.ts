import { describe, expect, it } from 'vitest';
import { isIPv6 } from '../../../../src/masking/detectors/ip-address.js';
import { found } from '../helpers.js';

describe('IPv4 detector', () => {
  it.each([
    ['client 192.168.1.10 connected', '192.168.1.10'],
    ['10.0.0.1:5432', '10.0.0.1'],
    ['10.0.0.0/8', '10.0.0.0'],
    ['[127.0.0.1]', '127.0.0.1'],
    ['255.255.255.255.', '255.255.255.255'],
    ['"ip":"8.8.8.8"', '8.8.8.8'],
    ['version 1.2.3.4', '1.2.3.4'],
  ])('finds it in %j', (text, ip) => {
    expect(found('ipv4', text)).toEqual([ip]);
  });

  it('finds both ends of a range', () => {
    expect(found('ipv4', '10.0.0.1-10.0.0.255')).toEqual(['10.0.0.1', '10.0.0.255']);
  });

  it.each([
    ['a three-part version', 'v1.2.3 and 1.2.3'],
    ['a v-prefixed version', 'v1.2.3.4'],
    ['a five-part version', '1.2.3.4.5'],
    ['an OID', '1.3.6.1.4.1.311'],
    ['an out-of-range octet', '256.1.1.1 and 1.1.1.300'],
    ['leading zeros', '01.02.03.04'],
    ['a decimal', '3.14159'],
    ['a date', '2024.01.15'],
  ])('leaves %s alone', (_what, text) => {
    expect(found('ipv4', text)).toEqual([]);
  });
});

describe('IPv6 detector', () => {
  it.each([
    ['2001:db8::1', '2001:db8::1'],
    ['from [2001:0db8:85a3:0000:0000:8a2e:0370:7334]:443', '2001:0db8:85a3:0000:0000:8a2e:0370:7334'],
    ['loopback ::1 only', '::1'],
    ['fe80::1%eth0 link-local', 'fe80::1%eth0'],
    ['mapped ::ffff:192.0.2.128', '::ffff:192.0.2.128'],
    ['"ip":"2001:db8:0:0:1:0:0:1"', '2001:db8:0:0:1:0:0:1'],
    ['end 2001:db8::42.', '2001:db8::42'],
  ])('finds it in %j', (text, ip) => {
    expect(found('ipv6', text)).toEqual([ip]);
  });

  it.each([
    ['a time', '12:34:56 and 2024-05-01T12:34:56.789Z'],
    ['a MAC address', '00:1a:2b:3c:4d:5e'],
    ['C++ scope', 'std::vector and Foo::Bar'],
    ['hex words', 'dead::beef and abc::def'],
    ['a double compression', '1::2::3'],
    ['JSON punctuation', '{"a":1,"b":"c:d"}'],
    ['a ratio', 'aspect 16:9'],
  ])('leaves %s alone', (_what, text) => {
    expect(found('ipv6', text)).toEqual([]);
  });

  it('validates forms', () => {
    expect(isIPv6('1:2:3:4:5:6:7:8')).toBe(true);
    expect(isIPv6('1:2:3:4:5:6:7')).toBe(false);
    expect(isIPv6('1:2:3:4:5:6:7:8:9')).toBe(false);
    expect(isIPv6('1:2:3:4:5:6:1.2.3.4')).toBe(true);
    expect(isIPv6('::')).toBe(true);
    expect(isIPv6('12345::')).toBe(false);
  });
});
