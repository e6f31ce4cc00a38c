// The recorded response's encoding: a row is stored as the DataRow body the client got,
// and reads back as text or bytes by the formats of the RowDescription before it.
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { encode } from '../../../protocol/index.js';
import { encodeMessage, encodeTruncation, ResponseDecoder, wireSize } from '../../../src/audit/response-codec.js';
import type { ResponseField } from '../../../src/audit/store.js';

const field = (name: string, format: 0 | 1): ResponseField => ({
  name,
  tableOid: 0,
  columnNumber: 0,
  typeOid: format === 0 ? 25 : 23,
  typeSize: -1,
  typeModifier: -1,
  format,
});

describe('response events', () => {
  test('a row is its DataRow body in base64 and reads back by the described formats', () => {
    const row = encodeMessage({ type: 'DataRow', fields: [Buffer.from('é"\\\n'), null, Buffer.from([0, 0, 0, 7]), Buffer.from([0xff])] });
    const body = Buffer.concat([
      Buffer.from([0, 4]),
      Buffer.from([0, 0, 0, 5]),
      Buffer.from('é"\\\n'),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
      Buffer.from([0, 0, 0, 4, 0, 0, 0, 7]),
      Buffer.from([0, 0, 0, 1, 0xff]),
    ]);
    expect(JSON.parse(row)).toEqual(['D', body.toString('base64')]);
    const decoder = new ResponseDecoder();
    const description = encodeMessage({ type: 'RowDescription', fields: [field('a', 0), field('b', 0), field('c', 1), field('d', 0)] });
    expect(decoder.decode(JSON.parse(description))).toMatchObject({ type: 'RowDescription' });
    // Invalid UTF-8 in a text column stays bytes rather than being mangled.
    expect(decoder.decode(JSON.parse(row))).toEqual({
      type: 'DataRow',
      values: ['é"\\\n', null, Buffer.from([0, 0, 0, 7]), Buffer.from([0xff])],
    });
  });

  test('a row given as its message body (as the relay records it) encodes like the same row given by fields', () => {
    const fields = [Buffer.from('é"\\\n'), null, Buffer.from([0, 0, 0, 7]), Buffer.from([0xff]), Buffer.alloc(0)];
    const frame = encode.dataRow(fields);
    // A view into a larger buffer, as a frame inside a socket read is.
    const inside = Buffer.concat([Buffer.from('junk'), frame, Buffer.from('more')]).subarray(4, 4 + frame.length);
    for (const body of [frame.subarray(5), new Uint8Array(inside.buffer, inside.byteOffset + 5, inside.length - 5)]) {
      expect(encodeMessage({ type: 'DataRow', body })).toBe(encodeMessage({ type: 'DataRow', fields }));
      expect(wireSize({ type: 'DataRow', body })).toBe(wireSize({ type: 'DataRow', fields }));
    }
  });

  test('a row with no description before it reads back as bytes', () => {
    const row = encodeMessage({ type: 'DataRow', fields: [Buffer.from('x')] });
    expect(new ResponseDecoder().decode(JSON.parse(row))).toEqual({ type: 'DataRow', values: [Buffer.from('x')] });
  });

  test('a malformed row is refused, not misread', () => {
    const decoder = new ResponseDecoder();
    const short = Buffer.from([0, 2, 0, 0, 0, 1, 0x61]).toString('base64');
    expect(() => decoder.decode(['D', short])).toThrow(/short row/);
    const long = Buffer.from([0, 1, 0, 0, 0, 9, 0x61]).toString('base64');
    expect(() => decoder.decode(['D', long])).toThrow(/bad column length/);
    const trailing = Buffer.from([0, 1, 0, 0, 0, 1, 0x61, 0x62]).toString('base64');
    expect(() => decoder.decode(['D', trailing])).toThrow(/trailing bytes/);
  });

  test('rows recorded as JSON values (the earlier encoding) still read back', () => {
    const decoder = new ResponseDecoder();
    expect(decoder.decode(['D', ['text', null, { b64: Buffer.from([1, 2]).toString('base64') }]])).toEqual({
      type: 'DataRow',
      values: ['text', null, Buffer.from([1, 2])],
    });
  });

  test('the other messages and the truncation mark round-trip', () => {
    const decoder = new ResponseDecoder();
    const notice = { severity: 'NOTICE', code: '00000', message: 'm' };
    expect(decoder.decode(JSON.parse(encodeMessage({ type: 'CommandComplete', tag: 'SELECT 1' })))).toEqual({ type: 'CommandComplete', tag: 'SELECT 1' });
    expect(decoder.decode(JSON.parse(encodeMessage({ type: 'EmptyQueryResponse' })))).toEqual({ type: 'EmptyQueryResponse' });
    expect(decoder.decode(JSON.parse(encodeMessage({ type: 'PortalSuspended' })))).toEqual({ type: 'PortalSuspended' });
    expect(decoder.decode(JSON.parse(encodeMessage({ type: 'NoticeResponse', fields: notice })))).toEqual({ type: 'NoticeResponse', fields: notice });
    expect(decoder.decode(JSON.parse(encodeMessage({ type: 'ErrorResponse', fields: notice })))).toEqual({ type: 'ErrorResponse', fields: notice });
    expect(decoder.decode(JSON.parse(encodeTruncation(1024)))).toEqual({ type: 'Truncated', capBytes: 1024 });
  });

  test('a description is encoded once while its frozen fields repeat, and afresh when they can change', () => {
    const frozen = Object.freeze([Object.freeze(field('a', 0)), Object.freeze(field('b', 1))]);
    const first = encodeMessage({ type: 'RowDescription', fields: frozen });
    expect(encodeMessage({ type: 'RowDescription', fields: frozen })).toBe(first);
    expect(JSON.parse(first)[1].map((f: { name: string }) => f.name)).toEqual(['a', 'b']);
    // Fields that may be changed under the same array are never served from memory.
    const open = [field('a', 0), field('b', 1)];
    encodeMessage({ type: 'RowDescription', fields: open });
    open[0] = field('renamed', 0);
    expect(JSON.parse(encodeMessage({ type: 'RowDescription', fields: open }))[1][0].name).toBe('renamed');
    const shallow = Object.freeze([field('a', 0)]);
    encodeMessage({ type: 'RowDescription', fields: shallow });
    (shallow[0] as { name: string }).name = 'renamed';
    expect(JSON.parse(encodeMessage({ type: 'RowDescription', fields: shallow }))[1][0].name).toBe('renamed');
  });

  test('a JWT in a row value, a notice or an error is recorded as [jwt sha256:...], like statement text', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlX2J5dGVz';
    const hash = createHash('sha256').update(jwt).digest('hex');
    const decoder = new ResponseDecoder();
    decoder.decode(JSON.parse(encodeMessage({ type: 'RowDescription', fields: [field('a', 0), field('b', 0), field('c', 0), field('d', 0)] })));
    // Bytes around the token (invalid UTF-8 included) stay as they were.
    const around = Buffer.concat([Buffer.from([0xff]), Buffer.from(` ${jwt} `), Buffer.from([0xfe])]);
    const row = encodeMessage({ type: 'DataRow', fields: [Buffer.from(`Bearer ${jwt}`), null, around, Buffer.from('eyJ not a token')] });
    expect(decoder.decode(JSON.parse(row))).toEqual({
      type: 'DataRow',
      values: [`Bearer [jwt sha256:${hash}]`, null, Buffer.concat([Buffer.from([0xff]), Buffer.from(` [jwt sha256:${hash}] `), Buffer.from([0xfe])]), 'eyJ not a token'],
    });
    const clean = encodeMessage({ type: 'DataRow', fields: [Buffer.from('eyJ not a token')] });
    expect(clean).toBe(encodeMessage({ type: 'DataRow', fields: [Buffer.from('eyJ not a token')] }));
    const error = encodeMessage({ type: 'ErrorResponse', fields: { severity: 'ERROR', code: '22P02', message: `invalid input syntax for type integer: "${jwt}"` } });
    expect(error).not.toContain(jwt);
    expect(JSON.parse(error)[1].message).toBe(`invalid input syntax for type integer: "[jwt sha256:${hash}]"`);
    expect(encodeMessage({ type: 'NoticeResponse', fields: { severity: 'NOTICE', code: '00000', message: jwt } })).not.toContain(jwt);
  });
});
