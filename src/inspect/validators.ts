// Owns the check-digit and format rules of the identifiers the PHI detector reports: SSN, MBI, NPI, DEA,
// ICD-10-CM and NDC. Pure functions over the characters of a candidate; no context here.

/** SSN: area not 000, 666 or 900-999; group not 00; serial not 0000. Digits only (separators removed). */
export function isValidSsn(digits: string): boolean {
  if (!/^\d{9}$/.test(digits)) return false;
  const area = Number(digits.slice(0, 3));
  const group = digits.slice(3, 5);
  const serial = digits.slice(5);
  if (area === 0 || area === 666 || area >= 900) return false;
  if (group === '00' || serial === '0000') return false;
  // widely published dummy numbers (Woolworth wallet card, advertising samples)
  if (digits === '078051120' || digits === '219099999' || digits === '123456789') return false;
  return true;
}

const MBI_LETTER = 'ACDEFGHJKMNPQRTUVWXY'; // A-Z without S L O I B Z

/**
 * Medicare Beneficiary Identifier (CMS format): 11 characters, dashes removed. 1: digit 1-9; 2,5,8,9: letter;
 * 3,6: letter or digit; 4,7,10,11: digit. Letters exclude S, L, O, I, B, Z.
 */
export function isValidMbi(raw: string): boolean {
  const s = raw.toUpperCase();
  if (s.length !== 11) return false;
  const letter = (c: string) => MBI_LETTER.includes(c);
  const digit = (c: string) => c >= '0' && c <= '9';
  const rules: ((c: string) => boolean)[] = [
    (c) => c >= '1' && c <= '9', letter, (c) => letter(c) || digit(c), digit,
    letter, (c) => letter(c) || digit(c), digit, letter, letter, digit, digit,
  ];
  return rules.every((rule, i) => rule(s[i]!));
}

/** Luhn check over a digit string (the last digit is the check digit). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** NPI: 10 digits starting with 1 or 2, Luhn-valid with the 80840 prefix (ISO 7812 health card issuer). */
export function isValidNpi(digits: string): boolean {
  return /^[12]\d{9}$/.test(digits) && luhnValid('80840' + digits);
}

/**
 * DEA registration number: 2 letters and 7 digits; check digit = last digit of
 * (d1+d3+d5) + 2*(d2+d4+d6). First letter is the registrant type (A, B, C, D, E, F, G, H, J, K, L, M, P, R, S, T, U, X).
 */
export function isValidDea(raw: string): boolean {
  const s = raw.toUpperCase();
  if (!/^[ABCDEFGHJKLMPRSTUX][A-Z9][0-9]{7}$/.test(s)) return false;
  const d = [...s.slice(2)].map(Number) as number[];
  const check = (d[0]! + d[2]! + d[4]! + 2 * (d[1]! + d[3]! + d[5]!)) % 10;
  return check === d[6];
}

/**
 * ICD-10-CM code shape: a letter (not U, which is reserved for special use), a digit, a digit or letter, then
 * optionally a dot and 1-4 characters (digits or letters, X as placeholder). Shape only; a code-set lookup or
 * context decides whether it is a diagnosis.
 */
export const ICD10_SHAPE = /^[A-TV-Z][0-9][0-9AB](?:\.[0-9A-Z]{1,4})?$/;

export function isIcd10Shape(code: string): boolean {
  return ICD10_SHAPE.test(code.toUpperCase());
}

/** NDC in 4-4-2, 5-3-2 or 5-4-1 form (with dashes), or 11 digits (the HIPAA 5-4-2 form). */
export function ndcForm(raw: string): '4-4-2' | '5-3-2' | '5-4-1' | '5-4-2' | null {
  if (/^\d{4}-\d{4}-\d{2}$/.test(raw)) return '4-4-2';
  if (/^\d{5}-\d{3}-\d{2}$/.test(raw)) return '5-3-2';
  if (/^\d{5}-\d{4}-\d{1}$/.test(raw)) return '5-4-1';
  if (/^\d{5}-\d{4}-\d{2}$/.test(raw) || /^\d{11}$/.test(raw)) return '5-4-2';
  return null;
}
