import test from 'ava';
import { simpleParser } from 'mailparser';
import { NEUTRAL_SUBJECT, outerHeaderBytes, outerHeaders, protectedEntity } from '../../src/transform/mime-entity.js';
import { ALL_BYTES, SAMPLE_SUBJECT, header, sampleMessage, splitPart } from '../helpers/crypto-keys.js';

const bodyOf = (raw: Buffer) => {
  const i = raw.indexOf('\r\n\r\n');
  return raw.subarray(i + 4);
};

test('protectedEntity keeps the Content-* headers and the body of a CRLF message byte for byte, and adds the protected headers in the order of the message', async (t) => {
  const original = sampleMessage();
  const entity = protectedEntity(original);
  t.deepEqual(bodyOf(entity), bodyOf(original));
  const part = splitPart(entity);
  t.deepEqual(part.headers.map(([n]) => n), ['content-type', 'from', 'to', 'cc', 'subject', 'date', 'message-id']);
  t.is(header(part, 'content-type'), 'multipart/mixed; boundary="mixed-boundary-1"; protected-headers="v1"');
  t.is(header(part, 'subject'), '=?UTF-8?Q?Befund_f=C3=BCr_Patientin_M=C3=BCller?=');
  t.is(header(part, 'message-id'), '<abc123.1@clinic.example>');
  t.false(entity.includes('Received:'));
  t.false(entity.includes('X-Mailer'));
  t.false(entity.includes('MIME-Version'));
  // A real parser reads it as the same message: subject, text and the attachment's bytes.
  const parsed = await simpleParser(entity);
  t.is(parsed.subject, SAMPLE_SUBJECT);
  t.regex(parsed.text ?? '', /Grüße aus der Praxis/);
  t.deepEqual(parsed.attachments[0]?.content, ALL_BYTES);
});

test('protectedEntity gives a bare-LF message in CRLF form, the same bytes as its CRLF twin', (t) => {
  const lf = protectedEntity(sampleMessage({ lf: true }));
  t.deepEqual(lf, protectedEntity(sampleMessage()));
  t.false(/(?<!\r)\n/.test(lf.toString('latin1')));
});

test('protectedEntity converts only the bare LFs of a mixed message, and keeps lone CRs and 8-bit bytes', (t) => {
  const raw = Buffer.concat([Buffer.from('Subject: x\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nline1\nline2\r\nlone\rcr '), Buffer.from([0xe9, 0x0a])]);
  const entity = protectedEntity(raw);
  t.deepEqual(bodyOf(entity), Buffer.concat([Buffer.from('line1\r\nline2\r\nlone\rcr '), Buffer.from([0xe9, 0x0d, 0x0a])]));
});

test('protectedEntity gives a message without Content-Type the RFC 2045 default and does not add the parameter twice', (t) => {
  const plain = protectedEntity(Buffer.from('From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n'));
  t.is(plain.toString(), 'Content-Type: text/plain; charset=us-ascii;\r\n protected-headers="v1"\r\nFrom: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n');
  const already = protectedEntity(Buffer.from('Subject: hi\r\nContent-Type: text/plain;\r\n protected-headers="v1"\r\n\r\nhello\r\n'));
  t.is(already.toString().match(/protected-headers/g)?.length, 1);
});

test('protectedEntity of a message without a body gives an empty body after the blank line', (t) => {
  t.is(protectedEntity(Buffer.from('Subject: only headers\r\nContent-Type: text/plain')).toString(),
    'Content-Type: text/plain;\r\n protected-headers="v1"\r\nSubject: only headers\r\n\r\n');
});

test('outerHeaders keeps every other field in order, folded lines as they are, and puts the neutral subject in place', (t) => {
  const outer = outerHeaders(sampleMessage());
  t.is(outer, [
    'Received: from ehr.clinic.example (ehr.clinic.example [192.0.2.10])',
    '\tby gw.clinic.example (phigate) with ESMTPS id 4XyZ;',
    '\tSun, 29 Nov 2026 18:00:00 +0000',
    'From: "Dr. Ana Lopez" <ana@clinic.example>',
    'To: Pat <pat@example.org>',
    'Cc: Records <records@clinic.example>',
    `Subject: ${NEUTRAL_SUBJECT}`,
    'Date: Sun, 29 Nov 2026 18:00:00 +0000',
    'Message-ID: <abc123.1@clinic.example>',
    'X-Mailer: EHR 5.2',
    '',
  ].join('\r\n'));
  t.is(outerHeaders(sampleMessage({ lf: true })), outer);
});

test('outerHeaders takes a custom subject, encodes a non-ASCII one, refuses line breaks in it, and adds one when missing', async (t) => {
  const custom = outerHeaders(sampleMessage(), { subject: 'Sichere Nachricht für Sie' });
  t.regex(custom, /^Subject: Sichere Nachricht =\?UTF-8\?Q\?f=C3=BCr\?= Sie\r\n/m);
  const parsed = await simpleParser(Buffer.from(`${custom}\r\nbody\r\n`));
  t.is(parsed.subject, 'Sichere Nachricht für Sie');
  const injected = outerHeaders(sampleMessage(), { subject: 'a\r\nBcc: evil@example.com' });
  t.false(/^Bcc:/m.test(injected));
  t.is(outerHeaders(Buffer.from('From: a@b.example\r\nContent-Type: text/plain\r\n\r\nx')), `From: a@b.example\r\nSubject: ${NEUTRAL_SUBJECT}\r\n`);
  const twoSubjects = outerHeaders(Buffer.from('Subject: one\r\nFrom: a@b.example\r\nSubject: two\r\n\r\nx'));
  t.is(twoSubjects, `Subject: ${NEUTRAL_SUBJECT}\r\nFrom: a@b.example\r\n`);
});

test('raw UTF-8 header bytes (SMTPUTF8) survive in the outer headers and in the protected entity', (t) => {
  const raw = Buffer.from('From: Jürgen <jürgen@example.de>\r\nSubject: Grüße\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo\r\n', 'utf8');
  t.true(outerHeaderBytes(raw).includes(Buffer.from('From: Jürgen <jürgen@example.de>\r\n', 'utf8')));
  t.is(outerHeaders(raw), `From: Jürgen <jürgen@example.de>\r\nSubject: ${NEUTRAL_SUBJECT}\r\n`);
  t.true(protectedEntity(raw).includes(Buffer.from('From: Jürgen <jürgen@example.de>\r\nSubject: Grüße\r\n', 'utf8')));
});
