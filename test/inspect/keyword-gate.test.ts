// The scanner's speed-ups must not change what it finds: the keyword gate gives exactly the matches of each
// shipped keyword pattern scanning the text itself, and the CRLF fold gives exactly the decoded-then-replaced
// string. Checked on generated texts made of the patterns' own words, values, separators and odd characters.
import test from 'ava';
import { KeywordGate, type Keyword } from '../../src/inspect/keyword-gate.js';
import { ID_KEYWORDS } from '../../src/inspect/detect-ids.js';
import { SIGNAL_KEYWORDS } from '../../src/inspect/signals.js';
import { utf8WithLf } from '../../src/inspect/line-endings.js';

const WORDS = [
  'patient', 'Patient ID', 'pt.', 'pt #', 'PT ID', 'MRN', 'm.r.n.', 'med rec #', 'medrec', 'medical record no.', 'chart #', 'chartno',
  'member ID', 'memberid', 'Member #', 'subscriber no.', 'subscribers', 'policy number', 'group no', 'insured', 'insurance id', 'plan id',
  'medicaid #', 'beneficiary id', 'benefit no', 'coverage id', 'enrollee id', 'recipient #', 'grp#', 'grp no.', 'mbr id', 'mbr#',
  'DOB', 'd.o.b.', 'D.O.B:', 'do.b', 'dob:', 'date of birth', 'birth date', 'birthdate', 'born on', 'born', 'birthday',
  'he', 'she', 'his', 'her', 'hers', 'him', 'here', 'help', 'your', 'you are', 'you', 'unsubscribe', 'opt-out', 'opt out',
  'manage your email preferences', 'view this email in your browser', 'newsletter', 'you are receiving this', 'you received this',
  'mailing list', 'update your preferences', 'sponsored', 'promotional code', 'promo code', '20% off', '% off', 'learn more at', 'webinar',
  'register now', 'sign up today', 'subscribe', 'result', 'results', 'came back', 'tested positive', 'negative for', 'abnormal', 'elevated',
  'out of range', 'levels of', 'level is', 'reading', 'appointment', 'appt', 'visit', 'consultation', 'procedure', 'surgery', 'checkup',
  'check-up', 'follow-up', 'followup', 'session', 'screening', 'exam', 'examination', 'admission', 'discharge', 'infusion', 'treatment',
  'home address', 'patient address', 'mailing address', 'shipping to', 'ship to:', 'delivery to', 'resides at', 'reside at', 'lives at',
  'address:', 'address :', 'account', 'acct #', 'account no. 12345', 'acctno99999', 'patient account', 'guarantor', 'billing 4444',
  'client', 'resident', 'student', 'name:', 'Re:', 're', 'son', 'daughter', 'child', 'husband', 'wife', 'mother', 'father',
  '03/14/1962', '00482193', 'W123456789', 'é', 'ſ', '\u212a', '_', '’', '\u00a0', 'café', 'épatient', '_member id', 'x9',
];
const SEPARATORS = [' ', ' ', '\n', '\r\n', '\n\n', ': ', ', ', '. ', '.', '-', '#', '', '\t', '/', '(', '%'];

function texts(count: number, seed: number): string[] {
  let s = seed;
  const rnd = (n: number) => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s % n; };
  const out: string[] = [];
  for (let t = 0; t < count; t++) {
    const parts: string[] = [];
    for (let i = rnd(60) + 1; i > 0; i--) {
      const w = WORDS[rnd(WORDS.length)]!;
      const c = rnd(3);
      parts.push(c === 0 ? w.toUpperCase() : c === 1 ? w.charAt(0).toUpperCase() + w.slice(1) : w, SEPARATORS[rnd(SEPARATORS.length)]!);
    }
    out.push(parts.join(''));
  }
  return out;
}

const plain = (k: Keyword, text: string) => [...text.matchAll(new RegExp(k.re.source, k.re.flags.includes('g') ? k.re.flags : k.re.flags + 'g'))];

test('the keyword gate finds exactly what each shipped keyword pattern finds', (t) => {
  const keywords = [...ID_KEYWORDS, ...SIGNAL_KEYWORDS];
  const gate = new KeywordGate(keywords);
  let matches = 0;
  for (const text of texts(1500, 7)) {
    const found = gate.scan(text);
    for (const k of keywords) {
      const want = plain(k, text);
      const got = [...found.matchAll(k)];
      matches += want.length;
      if (got.length !== want.length || got.some((m, i) => m.index !== want[i]!.index || m[0] !== want[i]![0])) {
        t.fail(`/${k.re.source.slice(0, 40)}.../ differs on a generated text`);
        return;
      }
      if (found.test(k) !== k.re.test(text)) { t.fail(`test() of /${k.re.source.slice(0, 40)}.../ differs`); return; }
      k.re.lastIndex = 0;
    }
  }
  t.true(matches > 1000, `the generated texts hold matches (${matches})`);
});

test('the keyword gate refuses patterns it cannot stand in for', (t) => {
  t.throws(() => new KeywordGate([{ re: /(?:mrn)/i, openings: 'mrn' }]), { message: /must start with \\b/ });
  t.throws(() => new KeywordGate([{ re: /\bmrn/iu, openings: 'mrn' }]), { message: /without u/ });
  t.throws(() => new KeywordGate([{ re: /\bmrn/i, openings: 'MRN' }]), { message: /bad keyword opening/ });
});

test('CRLF fold gives the decoded text with CRLF replaced, bytes around it intact', (t) => {
  const samples = [
    '', 'no line ends', 'a\r\nb', '\r\n\r\n', 'lone\rcr', 'cr at end\r', '\r\r\n', 'x\n\ry\r\n',
    ...texts(200, 11),
  ].map((s) => Buffer.from(s));
  // invalid UTF-8 just before a line end, and a body larger than one line
  samples.push(Buffer.from([0x61, 0xe2, 0x80, 0x0d, 0x0a, 0xc3, 0x0d, 0x0d, 0x0a, 0xff, 0x0d]));
  samples.push(Buffer.from('line of text é\r\n'.repeat(50_000)));
  for (const b of samples) t.is(utf8WithLf(b), b.toString('utf8').replace(/\r\n/g, '\n'));
});
