// The mirror's transport and credentials, judged the same way by the schema (CEL, at kubectl apply), the node agent
// (before any download) and the operator (before it reads latest/VERSION): issue 10, Medium 5 and 7.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { basicAuthorization, insecureMirrorProblem, mirrorCredentials } from '../../operator/api/mirror-policy.ts';
import { REDACT_PATHS } from '../../operator/lib/logger.ts';
import { pino } from 'pino';
import { Writable } from 'node:stream';

const SHA = 'c'.repeat(64);

test('an http:// mirror needs a pinned version and a sha256; https:// and the AWS bucket need neither', () => {
  assert.equal(insecureMirrorProblem({ version: 'latest' }), undefined, 'the AWS bucket');
  assert.equal(insecureMirrorProblem({ mirror: 'https://m.corp/ssm', version: 'latest' }), undefined);
  assert.equal(insecureMirrorProblem({ mirror: 'HTTPS://m.corp/ssm', version: 'latest' }), undefined);
  assert.equal(insecureMirrorProblem({ mirror: 'http://m.corp/ssm', version: '3.3.1.0', sha256: SHA }), undefined);
  for (const [req, words] of [
    [{ mirror: 'http://m.corp/ssm', version: '3.3.1.0' }, /https:\/\/.*agent\.sha256/],
    [{ mirror: 'HTTP://m.corp/ssm', version: 'latest', sha256: SHA }, /pin agent\.version/],
    [{ mirror: 'http://m.corp/ssm', version: '3.3.1.0', sha256: '  ' }, /agent\.sha256/],
  ] as const) {
    assert.match(insecureMirrorProblem(req) ?? '', words, JSON.stringify(req));
  }
});

test('mirror credentials from a Secret: both keys, no control characters, no colon in the user name', () => {
  assert.deepEqual(mirrorCredentials('reader', 'p@ss:wörd', 'mirror-creds'), { ok: true, credentials: { username: 'reader', password: 'p@ss:wörd' } });
  assert.deepEqual(mirrorCredentials('reader\n', ' pw \n', 'm'), { ok: true, credentials: { username: 'reader', password: 'pw' } }, 'a trailing newline from echo is not part of it');
  for (const [u, p, words] of [
    [undefined, 'pw', /username/],
    ['u', undefined, /password/],
    ['', '', /username/],
    ['a:b', 'pw', /username.*":"/],
    ['u', 'p\nExecStart=/bin/sh', /password.*control character/],
    ['u\u0000', 'pw', /username.*control character/],
  ] as const) {
    const r = mirrorCredentials(u, p, 'mirror-creds');
    assert.equal(r.ok, false, `${JSON.stringify([u, p])} accepted`);
    if (!r.ok) {
      assert.match(r.message, words);
      assert.match(r.message, /mirror-creds/);
      assert.ok(!r.message.includes('ExecStart') && !r.message.includes('pw'), 'the message never repeats a value');
    }
  }
  assert.equal(basicAuthorization({ username: 'reader', password: 'p@ss:wörd' }), `Basic ${Buffer.from('reader:p@ss:wörd', 'utf8').toString('base64')}`);
});

test('logs redact the mirror credentials and the Authorization header', () => {
  const lines: string[] = [];
  const sink = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) });
  const log = pino({ redact: { paths: REDACT_PATHS, censor: '[REDACTED]' } }, sink);
  log.info({ password: 'hunter2', mirror: { credentials: { username: 'u', password: 'hunter2' } }, headers: { authorization: 'Basic aHVudGVyMg==' }, authorization: 'Basic x' }, 'download');
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0] ?? '', /hunter2|aHVudGVyMg|Basic/);
});
