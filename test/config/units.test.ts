// Durations and sizes as the config file writes them: what parses, to how much, and what is refused; the JSON
// Schema patterns and the parsers must agree, or a value could pass validation and then crash at start.
import test from 'ava';
import { parseDuration, parseSize, formatDuration, DURATION_PATTERN, SIZE_PATTERN } from '../../src/config/units.js';

test('parseDuration reads ms, s, m, h and d; a bare number is seconds', (t) => {
  t.is(parseDuration('250ms'), 250);
  t.is(parseDuration('30s'), 30_000);
  t.is(parseDuration('5m'), 300_000);
  t.is(parseDuration('4h'), 14_400_000);
  t.is(parseDuration('5d'), 432_000_000);
  t.is(parseDuration('0s'), 0);
  t.is(parseDuration(' 15m '), 900_000);
  t.is(parseDuration(90), 90_000);
});

test('parseDuration refuses anything else with the value in the message', (t) => {
  for (const bad of ['5', '5 m', '1.5h', '-5m', '5M', '5min', 'm', '', '5w', '5m5s']) {
    const e = t.throws(() => parseDuration(bad), undefined, bad);
    t.true(e!.message.includes(`not a duration: ${bad}`), e!.message);
  }
});

test('parseSize reads bytes, B, KB, MB and GB (binary multiples)', (t) => {
  t.is(parseSize('512'), 512);
  t.is(parseSize('512B'), 512);
  t.is(parseSize('2KB'), 2048);
  t.is(parseSize('25MB'), 25 * 1024 * 1024);
  t.is(parseSize('1GB'), 1024 ** 3);
  t.is(parseSize(4096), 4096);
  for (const bad of ['25mb', '25 MB', '1.5MB', '-1', 'MB', '', '25TB']) t.throws(() => parseSize(bad), undefined, bad);
});

test('the schema patterns accept exactly what the parsers accept', (t) => {
  const d = new RegExp(DURATION_PATTERN);
  const s = new RegExp(SIZE_PATTERN);
  const durations = ['250ms', '30s', '5m', '4h', '5d', '5', '5 m', '1.5h', '5M', '5w', 'ms'];
  for (const v of durations) {
    let parses = true;
    try { parseDuration(v); } catch { parses = false; }
    t.is(d.test(v), parses, `duration ${v}`);
  }
  const sizes = ['512', '2KB', '25MB', '1GB', '25mb', '1.5MB', 'MB', '25TB'];
  for (const v of sizes) {
    let parses = true;
    try { parseSize(v); } catch { parses = false; }
    t.is(s.test(v), parses, `size ${v}`);
  }
});

test('formatDuration picks the largest whole unit and round-trips', (t) => {
  t.is(formatDuration(432_000_000), '5d');
  t.is(formatDuration(14_400_000), '4h');
  t.is(formatDuration(90_000), '90s');
  t.is(formatDuration(300_000), '5m');
  t.is(formatDuration(1500), '1500ms');
  for (const v of ['250ms', '30s', '5m', '4h', '5d', '36h']) t.is(parseDuration(formatDuration(parseDuration(v))), parseDuration(v));
});
