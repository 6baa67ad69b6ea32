// Owns masking of samples: a finding shows its kind and at most the last few characters of an identifier,
// never a whole value. Dictionary terms show their first letter and length only.

export function maskTail(label: string, value: string, keep = 4): string {
  const clean = value.replace(/[\s-]/g, '');
  const tail = clean.length > keep + 2 ? clean.slice(-keep) : '';
  return `${label} ${'*'.repeat(Math.max(4, clean.length - tail.length))}${tail}`.trim();
}

export function maskSsn(digits: string): string {
  return `SSN ***-**-${digits.slice(-4)}`;
}

export function maskDate(label: string): string {
  return `${label} **/**/****`;
}

export function maskTerm(term: string): string {
  const t = term.trim();
  return t ? `${t[0]}${'*'.repeat(Math.max(3, t.length - 1))}` : '****';
}

export function maskIcd(code: string): string {
  return `ICD ${code[0]}**${code.includes('.') ? '.*' : ''}`;
}
