// The pure parts of the operator's SSM client layer (error codes, client config, conversions, the metric) and of
// the SSM emulator (faults, clock, pagination, input validation, wire errors).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { SSMServiceException } from '@aws-sdk/client-ssm';
import { ssmErrorCode, isSsmError, NETWORK_ERROR } from '../../operator/aws/ssm-errors.ts';
import { ssmClientConfig } from '../../operator/aws/ssm-client.ts';
import { operationName, registerSsmApiMetrics } from '../../operator/aws/ssm-metrics.ts';
import { activationInfo, chunks, instanceInfo, tagFiltersFor, tagList, tagMap } from '../../operator/aws/ssm-api.ts';
import { createFaults } from '../servers/ssm-emulator/faults.ts';
import { createClock } from '../servers/ssm-emulator/clock.ts';
import { paginate } from '../servers/ssm-emulator/pagination.ts';
import { Input } from '../servers/ssm-emulator/input.ts';
import { errorResponse, SsmError } from '../servers/ssm-emulator/wire.ts';
import { EmulatorState } from '../servers/ssm-emulator/state.ts';
import { createActivation, describeActivations } from '../servers/ssm-emulator/activations.ts';
import { describeInstanceInformation } from '../servers/ssm-emulator/instances.ts';

const serviceError = (name: string, fault: 'client' | 'server' = 'client') =>
  new SSMServiceException({ name, $fault: fault, $metadata: { httpStatusCode: fault === 'client' ? 400 : 500 }, message: 'm' });

test('ssmErrorCode: the service error type, else a transport class', () => {
  assert.equal(ssmErrorCode(serviceError('ThrottlingException')), 'ThrottlingException');
  assert.equal(ssmErrorCode(serviceError('InternalServerError', 'server')), 'InternalServerError');
  assert.equal(ssmErrorCode(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), NETWORK_ERROR);
  assert.equal(ssmErrorCode(Object.assign(new Error('t'), { name: 'TimeoutError' })), 'TimeoutError');
  assert.equal(ssmErrorCode(new Error('x')), 'Unknown');
  assert.equal(ssmErrorCode('nope'), 'Unknown');
  assert.ok(isSsmError(serviceError('InvalidInstanceId'), 'InvalidResourceId', 'InvalidInstanceId'));
  assert.ok(!isSsmError(serviceError('InvalidInstanceId'), 'InvalidResourceId'));
});

test('ssmClientConfig: region, endpoint override, FIPS, retry, credentials', () => {
  const base = ssmClientConfig({ region: 'us-east-1' });
  assert.equal(base.region, 'us-east-1');
  assert.equal(base.maxAttempts, 5);
  assert.equal(base.retryMode, 'standard');
  assert.equal(base.endpoint, undefined);
  assert.equal(base.credentials, undefined, 'the standard chain is the SDK default');
  const vpce = ssmClientConfig({
    region: 'us-gov-west-1',
    endpoint: 'https://vpce-0123-abcd.ssm.us-gov-west-1.vpce.amazonaws.com',
    useFipsEndpoint: true,
    retryMode: 'adaptive',
    maxAttempts: 8,
    credentials: { kind: 'static', accessKeyId: 'AKIA', secretAccessKey: 's', sessionToken: 't' },
  });
  assert.equal(vpce.endpoint, 'https://vpce-0123-abcd.ssm.us-gov-west-1.vpce.amazonaws.com');
  assert.equal(vpce.useFipsEndpoint, true);
  assert.equal(vpce.retryMode, 'adaptive');
  assert.equal(vpce.maxAttempts, 8);
  assert.deepEqual(vpce.credentials, { accessKeyId: 'AKIA', secretAccessKey: 's', sessionToken: 't' });
  assert.equal(ssmClientConfig({ region: 'cn-north-1', endpoint: '' }).endpoint, undefined);
  assert.throws(() => ssmClientConfig({ region: 'US East' }), /not a region name/);
  assert.throws(() => ssmClientConfig({ region: 'us-east-1', endpoint: 'ssm.internal' }), /not a URL/);
  assert.throws(() => ssmClientConfig({ region: 'us-east-1', endpoint: 'ftp://x' }), /must be http/);
  assert.throws(() => ssmClientConfig({ region: 'us-east-1', maxAttempts: 0 }), /maxAttempts/);
  assert.throws(() => ssmClientConfig({ region: 'us-east-1', credentials: { kind: 'static', accessKeyId: '', secretAccessKey: 's' } }), /accessKeyId/);
});

test('the requests counter registers once per registry; operation names lose "Command"', async () => {
  const registry = new Registry();
  const a = registerSsmApiMetrics(registry);
  const b = registerSsmApiMetrics(registry);
  assert.equal(a, b);
  a.inc({ operation: 'CreateActivation', code: 'OK' });
  assert.match(await registry.metrics(), /# TYPE ssm_operator_ssm_api_requests_total counter\nssm_operator_ssm_api_requests_total\{operation="CreateActivation",code="OK"\} 1/);
  assert.equal(operationName('DescribeInstanceInformationCommand'), 'DescribeInstanceInformation');
  assert.equal(operationName(undefined), 'Unknown');
});

test('conversions: tags, filters, activation and instance info', () => {
  assert.deepEqual(tagList({ a: '1', b: '' }), [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '' }]);
  assert.deepEqual(tagMap([{ Key: 'a', Value: '1' }, { Key: 'b', Value: undefined }]), { a: '1', b: '' });
  assert.deepEqual(tagFiltersFor({ 'ssmagent.io/config': 'x' }), [{ Key: 'tag:ssmagent.io/config', Values: ['x'] }]);
  assert.deepEqual(tagFiltersFor(undefined), []);
  assert.deepEqual(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  const at = new Date('2030-01-01T00:00:00Z');
  assert.deepEqual(activationInfo({ ActivationId: 'id', Expired: false, ExpirationDate: at, RegistrationsCount: 2, RegistrationLimit: 5, Tags: [{ Key: 'k', Value: 'v' }] }), {
    id: 'id',
    expired: false,
    expiresAt: at,
    registrationsCount: 2,
    registrationLimit: 5,
    iamRole: undefined,
    defaultInstanceName: undefined,
    description: undefined,
    createdAt: undefined,
    tags: { k: 'v' },
  });
  assert.equal(activationInfo({}), undefined);
  assert.equal(instanceInfo({ InstanceId: 'mi-1', PingStatus: 'ConnectionLost' })?.pingStatus, 'ConnectionLost');
  assert.equal(instanceInfo({}), undefined);
});

test('emulator faults: next-N throttling and failures, scoped; a rate as a token bucket', () => {
  let now = 0;
  const f = createFaults(() => now);
  f.throttleNext(2, { operations: ['DescribeActivations'] });
  assert.equal(f.check('CreateActivation'), undefined);
  assert.equal(f.check('DescribeActivations')?.type, 'ThrottlingException');
  assert.equal(f.check('DescribeActivations')?.status, 400);
  assert.equal(f.check('DescribeActivations'), undefined);
  f.failNext(1);
  const e = f.check('CreateActivation');
  assert.equal(e?.type, 'InternalServerError');
  assert.equal(e?.status, 500);
  f.failNext(1, { status: 503, type: 'ServiceUnavailable' });
  assert.equal(f.check('X')?.status, 503);
  f.throttleRate(2);
  assert.equal(f.check('X'), undefined);
  assert.equal(f.check('X'), undefined);
  assert.equal(f.check('X')?.type, 'ThrottlingException');
  now += 500;
  assert.equal(f.check('X'), undefined);
  assert.equal(f.check('X')?.type, 'ThrottlingException');
  f.clear();
  assert.deepEqual(f.pending(), { throttle: 0, fail: 0, rate: undefined });
});

test('emulator clock: advance, set, reset over a flowing wall clock', () => {
  let wall = 1_000_000;
  const c = createClock(() => wall);
  c.advance(5000);
  assert.equal(c.now().getTime(), 1_005_000);
  wall += 10;
  assert.equal(c.now().getTime(), 1_005_010);
  c.set(new Date(0));
  assert.equal(c.now().getTime(), 0);
  c.reset();
  assert.equal(c.now().getTime(), wall);
});

test('emulator pagination: tokens belong to their query', () => {
  const items = [1, 2, 3, 4, 5];
  const p1 = paginate(items, 2, undefined, { f: 1 });
  assert.deepEqual(p1.page, [1, 2]);
  const p2 = paginate(items, 2, p1.nextToken, { f: 1 });
  assert.deepEqual(p2.page, [3, 4]);
  const p3 = paginate(items, 2, p2.nextToken, { f: 1 });
  assert.deepEqual(p3, { page: [5] });
  assert.throws(() => paginate(items, 2, p1.nextToken, { f: 2 }), (e: unknown) => e instanceof SsmError && e.type === 'InvalidNextToken');
  assert.throws(() => paginate(items, 2, 'garbage', {}), (e: unknown) => e instanceof SsmError && e.type === 'InvalidNextToken');
});

test('emulator input: ValidationException worded like AWS, SerializationException for wrong types', () => {
  const input = new Input({ IamRole: null, RegistrationLimit: 2000, Name: 'x' });
  input.string('IamRole', { required: true });
  input.integer('RegistrationLimit', { max: 1000 });
  input.string('Name', { values: ['Rsa'] });
  assert.throws(
    () => input.done(),
    (e: unknown) =>
      e instanceof SsmError &&
      e.type === 'ValidationException' &&
      e.message ===
        "3 validation errors detected: Value null at 'iamRole' failed to satisfy constraint: Member must not be null; " +
          "Value '2000' at 'registrationLimit' failed to satisfy constraint: Member must have value less than or equal to 1000; " +
          "Value 'x' at 'name' failed to satisfy constraint: Member must satisfy enum value set: [Rsa]",
  );
  assert.throws(() => new Input({ MaxResults: '5' }).integer('MaxResults'), (e: unknown) => e instanceof SsmError && e.type === 'SerializationException');
});

test('emulator wire errors: __type, message, status, x-amzn-ErrorType', () => {
  const r = errorResponse(new SsmError('InvalidActivation', ''), 'rid');
  assert.equal(r.status, 400);
  assert.deepEqual(JSON.parse(r.body), { __type: 'InvalidActivation' });
  assert.equal(r.headers['x-amzn-errortype'], 'InvalidActivation:http://internal.amazon.com/coral/com.amazonaws.ssm/');
  assert.equal(r.headers['content-type'], 'application/x-amz-json-1.1');
  const m = errorResponse(new SsmError('MissingAuthenticationTokenException', 'Request is missing Authentication Token'), 'rid');
  assert.deepEqual(JSON.parse(m.body), { __type: 'com.amazon.coral.service#MissingAuthenticationTokenException', message: 'Request is missing Authentication Token' });
  assert.equal(errorResponse(new SsmError('InternalServerError', ''), 'r').status, 500);
});

test('emulator operations: expiry by the clock, filters, MaxResults bounds', () => {
  let wall = Date.parse('2025-01-01T00:00:00Z');
  const state = new EmulatorState(createClock(() => wall));
  const ctx = { state };
  const { ActivationId } = createActivation({ IamRole: 'R', RegistrationLimit: 2 }, ctx);
  const list = () => describeActivations({ Filters: [{ FilterKey: 'ActivationIds', FilterValues: [String(ActivationId)] }] }, ctx).ActivationList as { Expired: boolean; ExpirationDate: number }[];
  assert.equal(list()[0]?.Expired, false);
  assert.equal(list()[0]?.ExpirationDate, Date.parse('2025-01-02T00:00:00Z') / 1000, 'the default expiry is 24 hours');
  wall += 25 * 60 * 60 * 1000;
  assert.equal(list()[0]?.Expired, true);
  assert.throws(() => describeActivations({ Filters: [{ FilterKey: 'Nope', FilterValues: [] }] }, ctx), (e: unknown) => e instanceof SsmError && e.type === 'InvalidFilter');
  assert.throws(() => describeInstanceInformation({ MaxResults: 51 }, ctx), (e: unknown) => e instanceof SsmError && e.type === 'ValidationException');
  assert.throws(() => describeInstanceInformation({ Filters: [{ Key: 'Color', Values: ['x'] }] }, ctx), (e: unknown) => e instanceof SsmError && e.type === 'InvalidFilterKey');
  assert.throws(
    () => describeInstanceInformation({ Filters: [{ Key: 'tag:a', Values: ['x'] }, { Key: 'PingStatus', Values: ['Online'] }] }, ctx),
    (e: unknown) => e instanceof SsmError && e.type === 'InvalidInstanceInformationFilterValue',
  );
  state.addInstance({ platformType: 'Linux' });
  state.addInstance({ resourceType: 'EC2Instance' });
  const legacy = describeInstanceInformation({ InstanceInformationFilterList: [{ key: 'ResourceType', valueSet: ['EC2Instance'] }] }, ctx);
  assert.equal((legacy.InstanceInformationList as unknown[]).length, 1);
});
