// Owns the identifier detectors: SSN, MBI, NPI, DEA, ICD-10-CM, NDC by shape and check digit, and MRN,
// health plan ids and dates of birth by their context words. Each returns hits with masked samples.
import type { Hit } from './types.js';
import { isValidSsn, isValidMbi, isValidNpi, isValidDea, ndcForm } from './validators.js';
import { maskDate, maskIcd, maskSsn, maskTail } from './mask.js';
import { KeywordGate, type Keyword, type KeywordMatches } from './keyword-gate.js';

/** Text just before index `at` (same paragraph, up to `width` chars), lowercased. */
function before(text: string, at: number, width = 40): string {
  const start = Math.max(0, at - width);
  let s = text.slice(start, at);
  const nl = s.lastIndexOf('\n\n');
  if (nl >= 0) s = s.slice(nl + 2);
  return s.toLowerCase();
}

/** Identifiers shown as examples or samples in training text, and the published sample values, are not PHI. */
const EXAMPLE_CONTEXT = /\b(?:for example|e\.g\.|example|sample|such as|format(?:ted)? (?:like|as)|looks like|dummy|fake|test (?:value|number))\b[^\n]{0,20}$/;
const PUBLISHED_SAMPLES = new Set(['mbi:1EG4TE5MK73', 'npi:1234567893', 'ssn:123456789', 'ssn:078051120', 'ssn:219099999']);

const NEGATIVE_CONTEXT = /\b(?:order|invoice|inv|po|tracking|track|ref(?:erence)?|confirmation|conf|sku|item|model|part|product|serial|s\/n|version|ver|build|ticket|case|incident|flight|gate|seat|room|suite|ste|apt|unit|style|catalog|cat|lot|batch|upc|isbn|zip|phone|tel|fax|cell|mobile|call|ext|account|acct|routing|card)\b[^\n]{0,12}$/;
const PHONE_CONTEXT = /\b(?:phone|tel|telephone|fax|cell|mobile|call|text|ext|contact)\b[^\n]{0,20}$/;

export interface IdContext {
  /** ICD-10 codes known to exist (dotted, uppercase); a known code needs no context word. */
  knownIcd10: Set<string>;
}

/** `found`: the keyword matches of a gate holding ID_KEYWORDS, when the caller has them already. */
export function detectIds(text: string, ctx: IdContext, found?: KeywordMatches): Hit[] {
  const hits: Hit[] = [];
  const push = (h: Hit): void => {
    // shown as an example: still a finding (policy may care), but too weak to make a verdict
    if (PUBLISHED_SAMPLES.has(h.key) || EXAMPLE_CONTEXT.test(before(text, h.index, 40))) h = { ...h, confidence: 0.3 };
    hits.push(h);
  };

  // SSN with separators: 123-45-6789 or 123 45 6789
  for (const m of text.matchAll(/\d{3}(?:-\d\d-| \d\d )\d{4}(?![\d-]| \d)/g)) {
    const prev = m.index! > 0 ? text.charCodeAt(m.index! - 1) : 32;
    if ((prev >= 48 && prev <= 57) || prev === 45) continue; // part of a longer number
    const digits = m[0].replace(/\D/g, '');
    if (!isValidSsn(digits)) continue;
    const b = before(text, m.index!);
    if (PHONE_CONTEXT.test(b) && !/ssn|social/.test(b)) continue;
    push({ type: 'ssn', index: m.index!, length: m[0].length, confidence: /\b(ssn|ss#|social security|soc sec|tin|taxpayer)\b/.test(b) ? 0.99 : 0.85, sample: maskSsn(digits), key: `ssn:${digits}` });
  }
  // bare nine digits only next to a context word
  for (const m of text.matchAll(/(?<![\d-])\d{9}(?![\d-])/g)) {
    if (!isValidSsn(m[0])) continue;
    if (!/\b(ssn|ss#|social security(?: number| no\.?| #)?|soc\.? sec\.?)\b[^\n]{0,15}$/.test(before(text, m.index!, 30))) continue;
    push({ type: 'ssn', index: m.index!, length: 9, confidence: 0.95, sample: maskSsn(m[0]), key: `ssn:${m[0]}` });
  }
  // MBI: 1EG4-TE5-MK73 or 1EG4TE5MK73 (upper case as printed on Medicare cards)
  for (const m of text.matchAll(/(?<![A-Za-z0-9-])([1-9][A-Z][A-Z0-9]\d)(-?)([A-Z][A-Z0-9]\d)\2([A-Z]{2}\d{2})(?![A-Za-z0-9-])/g)) {
    const v = m[1]! + m[3]! + m[4]!;
    if (!isValidMbi(v)) continue;
    const b = before(text, m.index!, 50);
    push({ type: 'mbi', index: m.index!, length: m[0].length, confidence: /medicare|mbi|beneficiary|hicn/.test(b) ? 0.99 : 0.85, sample: maskTail('MBI', v), key: `mbi:${v}` });
  }
  // NPI: 10 digits, 1 or 2 first, Luhn with 80840
  for (const m of text.matchAll(/(?<![\d-])[12]\d{9}(?![\d-])/g)) {
    if (!isValidNpi(m[0])) continue;
    const b = before(text, m.index!, 40);
    const labelled = /\b(npi|national provider|provider (?:id|number|#)|prescriber)\b/.test(b);
    if (!labelled && (PHONE_CONTEXT.test(b) || NEGATIVE_CONTEXT.test(b))) continue;
    push({ type: 'npi', index: m.index!, length: 10, confidence: labelled ? 0.97 : 0.6, sample: maskTail('NPI', m[0]), key: `npi:${m[0]}` });
  }
  // DEA: two letters and seven digits with a matching check digit
  // (found from its seven digits, which are rare in prose, then the two letters before them)
  for (const m of text.matchAll(/\d{7}(?![A-Za-z0-9])/g)) {
    const at = m.index!;
    const sep = at > 0 && (text[at - 1] === '-' || text[at - 1] === ' ') ? 1 : 0;
    const start = at - sep - 2;
    if (start < 0) continue;
    const letters = text.slice(start, start + 2);
    if (!/^[A-Za-z]{2}$/.test(letters) || (start > 0 && /[A-Za-z0-9]/.test(text[start - 1]!))) continue;
    const v = (letters + m[0]).toUpperCase();
    if (!isValidDea(v)) continue;
    const b = before(text, start, 40);
    const labelled = /\bdea\b/.test(b);
    if (!labelled && (letters !== letters.toUpperCase() || NEGATIVE_CONTEXT.test(b))) continue;
    push({ type: 'dea', index: start, length: at + 7 - start, confidence: labelled ? 0.97 : 0.65, sample: maskTail('DEA', v), key: `dea:${v}` });
  }
  // ICD-10-CM: by shape plus either a context word or membership in the known code list
  for (const m of text.matchAll(/(?<![A-Za-z0-9.\-/])([A-TV-Z]\d[0-9AB])(?:\.([0-9A-Z]{1,4}))?(?![A-Za-z0-9]|\.\d|-\d)/g)) {
    const code = m[2] ? `${m[1]}.${m[2]}` : m[1]!;
    const b = before(text, m.index!, 60);
    if (NEGATIVE_CONTEXT.test(b)) continue;
    const context = /\b(dx|diagnos[ie]s|diagnosed|icd(?:-?10)?(?:-cm)?|diag|condition|codes?|problem list|impression|assessment)\b/.test(b) ||
      /^[^\n]{0,3}[A-TV-Z]\d[0-9AB](?:\.[0-9A-Z]{1,4})?\s*[,;/]/.test(text.slice(Math.max(0, m.index! - 12), m.index! + 12)) && /\b(dx|diagnos|icd)/.test(before(text, m.index!, 120));
    const known = ctx.knownIcd10.has(code) || (!m[2] && ctx.knownIcd10.has(m[1]!));
    if (!context && !(known && m[2])) continue;
    push({ type: 'icd10', index: m.index!, length: m[0].length, confidence: context ? 0.95 : 0.75, sample: maskIcd(code), key: `icd:${code}` });
  }
  // NDC: 4-4-2, 5-3-2, 5-4-1 (and 5-4-2); 11 bare digits only with NDC context
  for (const m of text.matchAll(/(?<![\d-])(\d{4,5}-\d{3,4}-\d{1,2}|\d{11})(?![\d-])/g)) {
    const form = ndcForm(m[0]);
    if (!form) continue;
    const b = before(text, m.index!, 40);
    const labelled = /\bndc\b/.test(b);
    if (/^\d{11}$/.test(m[0]) && !labelled) continue;
    if (!labelled && (PHONE_CONTEXT.test(b) || NEGATIVE_CONTEXT.test(b))) continue;
    push({ type: 'ndc', index: m.index!, length: m[0].length, confidence: labelled ? 0.97 : 0.8, sample: maskTail('NDC', m[0]), key: `ndc:${m[0].replace(/-/g, '')}` });
  }
  detectLabelled(text, found ?? ID_GATE.scan(text), push);
  return hits;
}

const ID_TOKEN = /^[ \t:#.=-]{0,12}(?:is\s+|of\s+)?([A-Za-z0-9][A-Za-z0-9-]{3,19})(?![A-Za-z0-9-])/;

// the context words before an MRN, a health plan id and a date of birth (found through the keyword gate)
const MRN_CONTEXT: Keyword = {
  re: /\b(?:mrn|m\.r\.n\.?|med(?:ical)?\.?\s?rec(?:ord)?s?\.?(?:\s?(?:#|no\.?|num(?:ber)?))?|medical record(?:\s(?:#|no\.?|num(?:ber)?))?|chart\s?(?:#|no\.?|num(?:ber)?)|patient\s(?:id|#|no\.?|number)|pt\.?\s(?:id|#))(?=[\s:#.=-])/gi,
  openings: 'mrn* m.* med* chart* patient pt',
};
const PLAN_CONTEXT: Keyword = {
  re: /\b(?:(?:member|subscriber|policy|group|insurance|insured|plan|medicaid|beneficiary|benefit|coverage|enrollee|recipient)\s?(?:id(?:entification)?|#|no\.?|num(?:ber)?)(?:\s?(?:#|no\.?|number))?|grp\s?(?:#|no\.?)|mbr\s?(?:id|#))(?=[\s:#.=-])/gi,
  openings: 'member* subscriber* policy* group* insurance* insured* plan* medicaid* beneficiary* benefit* coverage* enrollee* recipient* grp* mbr*',
};
const DOB_CONTEXT: Keyword = {
  re: /\b(?:d\.?o\.?b\.?|date\s+of\s+birth|birth\s?date|birthdate|born(?:\s+on)?|birthday)(?=[\s:#.=-])/gi,
  openings: 'd.* do* date* birth* born*',
};
export const ID_KEYWORDS: Keyword[] = [MRN_CONTEXT, PLAN_CONTEXT, DOB_CONTEXT];
const ID_GATE = new KeywordGate(ID_KEYWORDS);

/** MRN, health plan ids and dates of birth: a context word, then the value within a few characters. */
function detectLabelled(text: string, found: KeywordMatches, push: (h: Hit) => void): void {
  for (const m of found.matchAll(MRN_CONTEXT)) {
    const rest = text.slice(m.index! + m[0].length, m.index! + m[0].length + 30);
    const v = ID_TOKEN.exec(rest);
    if (!v || !/\d/.test(v[1]!) || /^\d{1,2}[/-]\d{1,2}[/-]\d{2,4}$/.test(v[1]!)) continue;
    push({ type: 'mrn', index: m.index!, length: m[0].length + v[0].length, confidence: 0.95, sample: maskTail('MRN', v[1]!), key: `mrn:${v[1]!.toUpperCase()}` });
  }
  for (const m of found.matchAll(PLAN_CONTEXT)) {
    // "auto policy #", "life insurance policy number": not a health plan
    if (/\b(?:auto|car|vehicle|motor|home|homeowners?|renters?|life|pet|travel|property|flood|umbrella|motorcycle|boat|business|liability|workers'? comp)\b[^\n]{0,15}$/i.test(text.slice(Math.max(0, m.index! - 30), m.index! + m[0].indexOf(m[0].trim().split(/\s/)[0]!)))) continue;
    const rest = text.slice(m.index! + m[0].length, m.index! + m[0].length + 30);
    const v = ID_TOKEN.exec(rest);
    if (!v || !/\d/.test(v[1]!) || v[1]!.length < 5) continue;
    push({ type: 'health_plan_id', index: m.index!, length: m[0].length + v[0].length, confidence: 0.92, sample: maskTail('ID', v[1]!), key: `hp:${v[1]!.toUpperCase()}` });
  }
  for (const m of found.matchAll(DOB_CONTEXT)) {
    const rest = text.slice(m.index! + m[0].length, m.index! + m[0].length + 40);
    const d = DATE_AFTER.exec(rest);
    if (!d || !plausibleBirthDate(d[1]!)) continue;
    push({ type: 'dob', index: m.index!, length: m[0].length + d[0].length, confidence: 0.95, sample: maskDate('DOB'), key: `dob:${d[1]!}` });
  }
}

const MONTHS = 'jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?';
const DATE_AFTER = new RegExp(
  `^[ \\t:#.=(-]{0,12}(?:is\\s+|was\\s+|on\\s+)?(` +
  `\\d{1,2}[/.-]\\d{1,2}[/.-]\\d{2,4}|\\d{4}-\\d{1,2}-\\d{1,2}|` +
  `(?:${MONTHS})\\.?\\s+\\d{1,2}(?:st|nd|rd|th)?,?\\s+\\d{4}|\\d{1,2}(?:st|nd|rd|th)?\\s+(?:${MONTHS})\\.?,?\\s+\\d{4})`,
  'i',
);

function plausibleBirthDate(s: string): boolean {
  const year = /(\d{4})/.exec(s)?.[1] ?? /[/.-](\d{2})$/.exec(s)?.[1];
  if (!year) return false;
  const y = year.length === 2 ? Number(year) : Number(year);
  if (year.length === 4 && (y < 1880 || y > new Date().getUTCFullYear())) return false;
  const nums = s.match(/\d+/g)?.map(Number) ?? [];
  if (/^\d{1,2}[/.-]\d{1,2}[/.-]/.test(s) && (nums[0]! > 31 || nums[1]! > 31 || (nums[0]! > 12 && nums[1]! > 12))) return false;
  return true;
}
