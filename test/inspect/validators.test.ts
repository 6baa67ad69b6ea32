// Unit tests for the identifier validators: valid, invalid and boundary values for each rule.
import test from 'ava';
import { isValidSsn, isValidMbi, isValidNpi, isValidDea, isIcd10Shape, ndcForm, luhnValid } from '../../src/inspect/validators.js';

/** Appends the NPI check digit to 9 digits (Luhn over 80840 + digits). */
function npiWithCheck(nine: string): string {
  for (let d = 0; d <= 9; d++) if (luhnValid(`80840${nine}${d}`)) return `${nine}${d}`;
  throw new Error('unreachable');
}

function deaWithCheck(prefix: string, six: string): string {
  const d = [...six].map(Number);
  return `${prefix}${six}${(d[0]! + d[2]! + d[4]! + 2 * (d[1]! + d[3]! + d[5]!)) % 10}`;
}

test('SSN: area, group and serial rules', (t) => {
  t.true(isValidSsn('123456788'));
  t.true(isValidSsn('001010001'), 'lowest valid area, group, serial');
  t.true(isValidSsn('899999999'), 'highest valid area');
  t.false(isValidSsn('000123456'), 'area 000');
  t.false(isValidSsn('666123456'), 'area 666');
  t.false(isValidSsn('900123456'), 'area 900');
  t.false(isValidSsn('999123456'), 'area 999');
  t.false(isValidSsn('123001234'.replace('001', '00')), 'wrong length');
  t.false(isValidSsn('123006789'.slice(0, 3) + '00' + '6789'), 'group 00');
  t.false(isValidSsn('123450000'), 'serial 0000');
  t.false(isValidSsn('078051120'), 'the Woolworth wallet number');
  t.false(isValidSsn('12345678a'));
});

test('MBI: positions and excluded letters', (t) => {
  t.true(isValidMbi('1EG4TE5MK73'), "CMS's published example");
  t.true(isValidMbi('1eg4te5mk73'), 'case does not matter');
  t.true(isValidMbi('9AA0AA0AA00'));
  t.true(isValidMbi('1A00A00AA00'), 'positions 3 and 6 may be digits');
  t.false(isValidMbi('0EG4TE5MK73'), 'position 1 is 1-9');
  t.false(isValidMbi('1SG4TE5MK73'), 'S is excluded');
  t.false(isValidMbi('1EG4TL5MK73'), 'L is excluded');
  t.false(isValidMbi('1EG4TE5MO73'), 'O is excluded');
  t.false(isValidMbi('1EG4TE5MKI3'.slice(0, 8) + 'B73'), 'B is excluded');
  t.false(isValidMbi('1EGATE5MK73'), 'position 4 is a digit');
  t.false(isValidMbi('1EG4TE5MK7'), 'ten characters');
  t.false(isValidMbi('1EG4TE5MK733'), 'twelve characters');
});

test('NPI: 10 digits, first 1 or 2, Luhn with the 80840 prefix', (t) => {
  t.true(isValidNpi('1234567893'), "CMS's published example");
  for (const nine of ['123456789', '200000000', '198765432', '299999999']) {
    const npi = npiWithCheck(nine);
    t.true(isValidNpi(npi), npi);
    const wrong = npi.slice(0, 9) + String((Number(npi[9]) + 1) % 10);
    t.false(isValidNpi(wrong), `${wrong} fails Luhn`);
  }
  t.false(isValidNpi('3234567893'), 'first digit 3');
  t.false(isValidNpi('123456789'), 'nine digits');
  t.false(isValidNpi('12345678930'), 'eleven digits');
});

test('DEA: registrant letter, check digit', (t) => {
  const valid = deaWithCheck('AB', '123456');
  t.is(valid, 'AB1234563');
  t.true(isValidDea(valid));
  t.true(isValidDea(valid.toLowerCase()));
  t.true(isValidDea(deaWithCheck('MJ', '987654')), 'mid-level practitioner prefix M');
  t.false(isValidDea('AB1234564'), 'wrong check digit');
  t.false(isValidDea(deaWithCheck('QB', '123456')), 'Q is not a registrant type');
  t.false(isValidDea('AB123456'), 'six digits');
  t.false(isValidDea('A11234563'), 'second character must be a letter or 9');
  t.true(isValidDea(deaWithCheck('A9', '123456')), '9 stands for a business name starting with a digit');
});

test('ICD-10-CM shape', (t) => {
  for (const c of ['E11.9', 'I10', 'F32.9', 'J45.909', 'S72.001A', 'Z79.4', 'C50.911', 'M54.50', 'O09.90', 'T38.0X5A']) t.true(isIcd10Shape(c), c);
  for (const c of ['U07.1', '11.9', 'E1', 'EE1.9', 'E11.12345', 'E11.', 'A1C']) t.false(isIcd10Shape(c), c);
});

test('NDC forms', (t) => {
  t.is(ndcForm('0002-1433-80'), '4-4-2');
  t.is(ndcForm('50090-287-50'), '5-3-2');
  t.is(ndcForm('50090-2875-0'), '5-4-1');
  t.is(ndcForm('50090-2875-01'), '5-4-2');
  t.is(ndcForm('00002143380'), '5-4-2');
  t.is(ndcForm('0002-143-80'), null);
  t.is(ndcForm('555-123-4567'), null, 'a phone number');
  t.is(ndcForm('0002143380'), null, 'ten bare digits');
});
