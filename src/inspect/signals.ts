// Owns the context signals behind the verdict that are not reported entity types: a labelled patient name, a
// person's address, an account number, a personal greeting, second-person statements about one's own health,
// clinical appointments and results, and signs of bulk mail (newsletters, marketing).

import { KeywordGate, type Keyword, type KeywordMatches } from './keyword-gate.js';

export interface Signals {
  patientName: boolean;
  personAddress: boolean;
  accountNumber: boolean;
  greetingName: boolean;
  /** sentence offsets of second-person statements ("your refill", "you are scheduled") */
  secondPerson: { start: number; end: number; readonly specific: boolean }[];
  /** sentence offsets of third-person statements ("his inhaler", "she was admitted") */
  thirdPerson: { start: number; end: number }[];
  appointment: boolean;
  result: boolean;
  bulk: boolean;
}

// A personal name: two or three capitalised words on one line, the first not a common heading word.
const NOT_A_NAME = "(?!(?:Education|Portal|Services?|Care|Experience|Safety|Information|Instructions|Forms?|Center|Centre|Advocate|Relations|Access|Satisfaction|Resources|Guide|Handbook|Registration|Financial|Intake|Rights|Support|Engagement|Navigator|Coordinator|Account|Name|ID|Number|Records?|Summary|Communication|Newsletter|Update|Notice|Appointment|Information|Privacy|Billing|Statement|Survey|Feedback|Population|Outreach|Family|Health|Medical|Clinical)\\b)";
const NAME = NOT_A_NAME + "\\p{Lu}[\\p{L}'’.-]+(?:[ \\t]+\\p{Lu}\\.?)?(?:[ \\t]+\\p{Lu}[\\p{L}'’-]+){1,2}";
/** Case-insensitive letters for a keyword pattern, so the rest of the regex can stay case-sensitive for names. */
/**
 * A labelled or introduced name. The keyword (any case) is found first with a fast case-insensitive search, and
 * only there is the case-sensitive name pattern tried, which keeps a long text to one quick pass.
 */
const NAME_KEYWORD: Keyword = {
  re: /\b(?:patient|pt|client|resident|member|insured|student|name|re|son|daughter|child|husband|wife|mother|father)\b/gi,
  openings: 'patient pt client resident member insured student name re son daughter child husband wife mother father',
};
function hasPatientName(text: string, found: KeywordMatches): boolean {
  for (const m of found.matchAll(NAME_KEYWORD)) {
    const piece = text.slice(Math.max(0, m.index! - 30), m.index! + 120);
    if (PATIENT_NAME.test(piece) || PATIENT_NAME_INLINE.test(piece)) return true;
  }
  return false;
}

function ci(pattern: string): string {
  return pattern.replace(/(\\.)|([a-z])/g, (_m, esc: string | undefined, c: string | undefined) => esc ?? `[${c}${c!.toUpperCase()}]`);
}
const PATIENT_NAME = new RegExp(ci("\\b(?:patient(?:'s)?(?:\\s+name)?|pt\\.?(?:\\s+name)?|client(?:\\s+name)?|resident(?:\\s+name)?|member(?:\\s+name)?|insured(?:\\s+name)?|student(?:\\s+name)?|name\\s+of\\s+patient|re)\\s*[:\\-]\\s*(?:(?:mr|mrs|ms|miss|mx)\\.?\\s+)?") + NAME, 'u');
const PATIENT_NAME_INLINE = new RegExp(ci("\\b(?:(?:our|the|this|my|a|your)\\s+(?:mutual\\s+|new\\s+|former\\s+)?(?:patient|client|resident|student|son|daughter|child|husband|wife|mother|father))[ \\t]*,?[ \\t]+(?:(?:mr|mrs|ms|miss)\\.?[ \\t]+)?") + NAME, 'u');
const ADDRESS_LINE = /\b\d{1,6}\s+(?:[NSEW]\.?\s+)?(?:[\p{Lu}0-9][\p{L}0-9'’.-]*\s+){1,4}(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter|circle|cir|parkway|pkwy|highway|hwy|trail|trl|square|sq)\b\.?/iu;
const ADDRESS_LABEL: Keyword = {
  re: /\b(?:home\s+address|patient\s+address|mailing\s+address|ship(?:ping)?\s+to|deliver(?:y)?\s+to|resides?\s+at|lives\s+at|address\s*:)/i,
  openings: 'home patient mailing ship* deliver* resid* lives address',
};
const ACCOUNT: Keyword = {
  re: /\b(?:account|acct|patient\s+account|guarantor|billing)\s*(?:#|no\.?|number|num)?\s*[:#]?\s*[A-Z0-9-]*\d{4,}/i,
  openings: 'account* acct* patient guarantor* billing*',
};
const GREETING = new RegExp('(?:^|\\n)\\s*' + ci("(?:dear|hi|hello|hey|good\\s+(?:morning|afternoon|evening))\\s+(?:(?:mr|mrs|ms|miss|mx|dr)\\.?\\s+)?") + "(\\p{Lu}[\\p{L}'’-]+)", 'gu');
/** A letter that opens with just "Mr. Brooks," or "Ms. Chen:" on its own line. */
const SALUTATION_LINE = /(?:^|\n)[ \t]*(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?[ \t]+\p{Lu}[\p{L}'’-]+(?:[ \t]+\p{Lu}[\p{L}'’-]+)?[ \t]*[,:][ \t]*\r?\n/u;
const GENERIC_GREETING = /^(?:patients?|valued|customers?|members?|friends?|all|team|colleagues?|parents?|families|family|everyone|sir|madam|neighbors?|neighbours?|readers?|subscribers?|staff|community|clients?|participants?|providers?|partners?|there|folks|doctors?|physicians?|nurses?|hr|it|support|hiring|residents?|shoppers?|guests?|users?)$/i;
const THIRD_PERSON_ALL: Keyword = { re: /\b(?:he|she|his|her|him|hers)\b/gi, openings: 'he she his her him hers' };
const SECOND_PERSON = /\b(?:your|you(?:'re|'ve| are| were| have| had| will| need| may| can| should)?)\b/gi;
// A second-person sentence states a fact about the reader (not a generic call to action) when it says what
// their thing is/was, that they are scheduled/due/diagnosed, or that their refill/result is ready or back.
// The facts in words come first; the ones that need a number are only tried on a sentence holding a digit.
const SPECIFIC_WORDS = [
  /\byour\s+(?:[\p{L}\d-]+\s+){0,2}(?:prescriptions?|refills?|orders?|rx|results?|tests?|labs?|appointments?|appt|procedures?|surgery|visit|claims?|medications?|meds|dose|scan|biopsy|reports?|referral|authorization|auth|account|balance|bill|statement|package|shipment|delivery|coverage|application|request|forms?|records?|chart|x-?rays?|images|screening|exam|check-?up|follow-?up|therapy|treatment|infusion|session|consult(?:ation)?|enrollment|card|levels?|numbers?|readings?|pressure|sugar|cholesterol|a1c|child|son|daughter)\s+(?:is|was|are|were|has|have|had|will\s+be|came|needs?|expires?|showed?|looks?)\b/iu,
  /\byou\s+(?:are|were|have\s+been|'re)\s+(?:now\s+)?(?:scheduled|due|diagnosed|prescribed|booked|registered|enrolled|tested|overdue|cleared|approved)\b/iu,
  /\b(?:refill|prescription|rx|order|results?|report|labs?|test)\b[^.!?\n]{0,60}\b(?:ready|shipped|on its way|available|back|normal|abnormal|positive|negative|elevated|high|low|approved|denied|processed|transferred)\b/iu,
];
const SPECIFIC_NUMBERS = [
  /\brx\s?#\s?\d+/iu,
  /\b(?:on|for)\s+(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+(?:[a-z]+\s+)?\d{1,2}\b/iu,
  /\b(?:on|for)\s+\d{1,2}\/\d{1,2}(?:\/\d{2,4})?\b/iu,
  /\bat\s+\d{1,2}(?::\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.)/iu,
];
const GENERIC_CALL = /^\s*(?:get|schedule|book|protect|manage|talk|ask|learn|find|discover|keep|take\s+charge|check|visit|call|join|save|stay|don't|do\s+not|make\s+sure|remember\s+to|bring)\b/i;
export function isSpecific(sentence: string): boolean {
  if (GENERIC_CALL.test(sentence) && !/\brx\s?#|\bresults?\b|\bscheduled\b/i.test(sentence)) return false;
  return SPECIFIC_WORDS.some((r) => r.test(sentence)) || (/\d/.test(sentence) && SPECIFIC_NUMBERS.some((r) => r.test(sentence)));
}
const APPOINTMENT: Keyword = {
  re: /\b(?:appointment|appt|visit|consult(?:ation)?|procedure|surgery|check-?up|follow-?up|session|screening|exam(?:ination)?|admission|discharge|infusion|treatment)\b/i,
  openings: 'appointment appt visit consult* procedure surgery check* follow* session screening exam* admission discharge infusion treatment',
};
const RESULT: Keyword = {
  re: /\b(?:results?|came back|tested (?:positive|negative)|(?:positive|negative) for|abnormal|elevated|out of range|levels? (?:of|was|were|is)|reading)\b/i,
  openings: 'result* came tested positive negative abnormal elevated out level* reading',
};
const BULK: Keyword = {
  re: /\b(?:unsubscribe|opt[- ]out|manage (?:your )?(?:email )?preferences|view (?:this email )?in (?:your )?browser|newsletter|you are receiving this|you received this|mailing list|update your preferences|sponsored|promo(?:tion)?(?:al)? code|% off|learn more at|webinar|register now|sign up today|subscribe)\b/i,
  openings: 'unsubscribe opt manage view newsletter you mailing update sponsored promo* %* learn webinar register sign subscribe',
};
/** The signals' context words, for a keyword gate shared with other detectors (see analyze.ts). */
export const SIGNAL_KEYWORDS: Keyword[] = [NAME_KEYWORD, ADDRESS_LABEL, ACCOUNT, THIRD_PERSON_ALL, APPOINTMENT, RESULT, BULK];
const SIGNAL_GATE = new KeywordGate(SIGNAL_KEYWORDS);

/** Is position i the end of a sentence: . ! ? (not a decimal point) or a blank line? */
function endsAt(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c === 33 || c === 63) return true; // ! ?
  if (c === 46) { const n = text.charCodeAt(i + 1); return !(n >= 48 && n <= 57); } // . not before a digit
  if (c === 10) { let j = i + 1; while (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9 || text.charCodeAt(j) === 13) j++; return text.charCodeAt(j) === 10; }
  return false;
}

/**
 * The sentence around position i: from just after the previous end to the next one (single line breaks are
 * wrapping, not ends). Bounded to 600 characters each way.
 */
export function sentenceAround(text: string, i: number): { start: number; end: number } {
  let start = i;
  const minStart = Math.max(0, i - 600);
  while (start > minStart && !endsAt(text, start - 1)) start--;
  let end = i;
  const maxEnd = Math.min(text.length, i + 600);
  while (end < maxEnd && !endsAt(text, end)) end++;
  return { start, end: Math.min(text.length, end + 1) };
}

/** Sentences holding one of the matches, each once, at most `max`. */
function sentencesWith(text: string, matches: Iterable<RegExpMatchArray>, max = 2000): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let lastEnd = -1;
  for (const m of matches) {
    if (m.index! < lastEnd) continue;
    const s = sentenceAround(text, m.index!);
    out.push(s);
    lastEnd = s.end;
    if (out.length >= max) break;
  }
  return out;
}

/** `found`: the keyword matches of a gate holding SIGNAL_KEYWORDS, when the caller has them already. */
export function readSignals(text: string, headers: { listUnsubscribe: boolean; precedenceBulk: boolean }, found: KeywordMatches = SIGNAL_GATE.scan(text)): Signals {
  const head = text.slice(0, 4000);
  const greetingName = [...head.matchAll(GREETING)].some((m) => !GENERIC_GREETING.test(m[1]!)) || SALUTATION_LINE.test(head);
  const secondPerson: Signals['secondPerson'] = [];
  const thirdPerson: Signals['thirdPerson'] = [];
  // whether a sentence states a fact about the reader is decided when first asked (most never are)
  SECOND_PERSON.lastIndex = 0;
  for (const s of sentencesWith(text, text.matchAll(SECOND_PERSON))) {
    let memo: boolean | undefined;
    secondPerson.push({ start: s.start, end: s.end, get specific() { return (memo ??= isSpecific(text.slice(s.start, s.end))); } });
  }
  for (const s of sentencesWith(text, found.matchAll(THIRD_PERSON_ALL))) thirdPerson.push(s);
  let addr = false;
  // only an address with a label ("Ship to:", "home address") counts, so look for one only where a label is
  for (const m of found.test(ADDRESS_LABEL) ? text.matchAll(new RegExp(ADDRESS_LINE.source, 'giu')) : []) {
    const b = text.slice(Math.max(0, m.index! - 80), m.index!);
    if (ADDRESS_LABEL.re.test(b) || PATIENT_NAME.test(b.split('\n').slice(-2).join('\n'))) { addr = true; break; }
  }
  return {
    patientName: hasPatientName(text, found),
    personAddress: addr,
    accountNumber: found.test(ACCOUNT),
    greetingName,
    secondPerson,
    thirdPerson,
    appointment: found.test(APPOINTMENT),
    result: found.test(RESULT),
    bulk: headers.listUnsubscribe || headers.precedenceBulk || found.test(BULK),
  };
}
