// Faults and latency (issue 16) in the client, without a real server: the
// rule and latency mappings, and what SetFaults/ClearFaults send and return
// (against the scripted fake control server).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import {
  CassetteNotFoundError,
  InvalidArgumentError,
  LatencyMode,
  MatgtoClient,
  ResetFault_When,
  cassetteOptions,
  faultFromPb,
  faultToPb,
  latencyFromPb,
  latencyToPb,
  optionsFromPb,
  type Fault,
  type FaultRule,
} from '@matgto/client';
import { useCassette, type TestContextLike } from '@matgto/client/testing';
import {
  ClearFaultsResponse,
  Fault as PbFault,
  GetStatusResponse,
  Mode,
  SessionInfo as PbSessionInfo,
  SetFaultsResponse,
  StopRecordingResponse,
  UseCassetteResponse,
} from '../dist/gen/matgto/v1/control.js';
import { grpcError, startFakeControl, type FakeControl } from './fake-control.js';

const BIG_SEED = 18_446_744_073_709_551_557n; // above 2^53: a number would lose it

describe('fault rules (no server needed)', () => {
  test('each action, selector and match reaches the generated Fault', () => {
    const s = faultToPb({ status: 503, headers: { 'Retry-After': '1' }, body: 'busy', firstN: 2, url: '/orders/.*', method: 'GET' });
    assert.equal(s.status?.code, 503);
    assert.deepEqual(s.status?.headers.map((h) => [h.name, h.value]), [['Retry-After', '1']]);
    assert.equal(Buffer.from(s.status!.body).toString(), 'busy');
    assert.equal(s.firstN, 2);
    assert.equal(s.probability, undefined);
    assert.equal(s.urlPattern, '/orders/.*');
    assert.equal(s.method, 'GET');

    const pairs = faultToPb({ status: 200, headers: [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']] });
    assert.deepEqual(pairs.status?.headers.map((h) => h.value), ['a=1', 'b=2']);

    assert.deepEqual(faultToPb({ delayMs: 2500 }).delay, { seconds: 2, nanos: 500_000_000 });
    assert.deepEqual(faultToPb({ hang: true }).hang, {});
    assert.equal(faultToPb({ reset: 'before-headers' }).reset?.when, ResetFault_When.BEFORE_HEADERS);
    assert.equal(faultToPb({ reset: 'after-headers' }).reset?.when, ResetFault_When.AFTER_HEADERS);
    assert.equal(faultToPb({ reset: 'mid-body' }).reset?.when, ResetFault_When.MID_BODY);
    assert.equal(faultToPb({ reset: true }).reset?.when, ResetFault_When.BEFORE_HEADERS);
    assert.equal(faultToPb({ bandwidth: 100 * 1024 }).bandwidthBytesPerSecond, 102_400);
    assert.equal(faultToPb({ hang: true, probability: 0.25 }).probability, 0.25);
    assert.equal(faultToPb({ hang: true, everyNth: 3 }).everyNth, 3);
    assert.equal(faultToPb({ hang: true, url: /\/orders\/[0-9]+/ }).urlPattern, '\\/orders\\/[0-9]+');
    // No action field but the chosen one is set.
    const d = faultToPb({ delayMs: 10 });
    assert.equal(d.status, undefined);
    assert.equal(d.hang, undefined);
    assert.equal(d.reset, undefined);
    assert.equal(d.bandwidthBytesPerSecond, undefined);
    assert.equal(d.websocket, undefined);
  });

  test('a websocket fault maps both ways (dropAfterMessages, messageDelayMs)', () => {
    const both = faultToPb({ websocket: { dropAfterMessages: 2, messageDelayMs: 300 }, url: '/ws' });
    assert.deepEqual(both.websocket, { dropAfterMessages: 2, messageDelay: { seconds: 0, nanos: 300_000_000 } });
    assert.equal(both.urlPattern, '/ws');
    assert.equal(both.delay, undefined);
    assert.equal(both.bandwidthBytesPerSecond, undefined);
    assert.deepEqual(faultToPb({ websocket: { dropAfterMessages: 5 } }).websocket, { dropAfterMessages: 5, messageDelay: undefined });
    assert.deepEqual(faultToPb({ websocket: { messageDelayMs: 1500 }, firstN: 1 }).websocket, { dropAfterMessages: 0, messageDelay: { seconds: 1, nanos: 500_000_000 } });
    // Through the wire format, as the server gets it.
    const wire = PbFault.decode(PbFault.encode(faultToPb({ websocket: { dropAfterMessages: 2, messageDelayMs: 300 } })).finish());
    assert.equal(wire.websocket?.dropAfterMessages, 2);
    assert.deepEqual(wire.websocket?.messageDelay, { seconds: 0, nanos: 300_000_000 });

    assert.deepEqual(
      faultFromPb(PbFault.fromPartial({ id: 'f1', websocket: { dropAfterMessages: 2, messageDelay: { seconds: 0, nanos: 300_000_000 } }, applied: 1 })),
      { id: 'f1', websocket: { dropAfterMessages: 2, messageDelayMs: 300 }, applied: 1 },
    );
    assert.deepEqual(faultFromPb(PbFault.fromPartial({ id: 'f2', websocket: { dropAfterMessages: 3 } })), { id: 'f2', websocket: { dropAfterMessages: 3 }, applied: 0 });
    assert.deepEqual(faultFromPb(PbFault.fromPartial({ id: 'f3', websocket: { messageDelay: { seconds: 2, nanos: 0 } } })), { id: 'f3', websocket: { messageDelayMs: 2000 }, applied: 0 });
    // Round trips.
    for (const rule of [
      { websocket: { dropAfterMessages: 2, messageDelayMs: 300 } },
      { url: '/chat', everyNth: 2, websocket: { dropAfterMessages: 1 } },
      { method: 'GET', websocket: { messageDelayMs: 25 } },
    ] satisfies FaultRule[]) {
      const { id: _id, applied: _applied, ...back } = faultFromPb({ ...faultToPb(rule), id: 'f9', applied: 0 });
      assert.deepEqual(back, rule);
    }
  });

  test('a rule that is not one action and at most one selector is refused before any call', () => {
    const bad: unknown[] = [
      {},
      { url: '/x' },
      { status: 503, hang: true },
      { delayMs: 1, reset: 'mid-body' },
      { hang: true, firstN: 2, probability: 0.5 },
      { hang: false },
      { reset: 'sometimes' },
      { delayMs: -1 },
      { bandwidth: 0 },
      { bandwidth: 1.5 },
      { firstN: 0, hang: true },
      { everyNth: 2.5, hang: true },
      { status: '503' },
      { delayMs: 1, headers: { a: 'b' } },
      { status: 503, headers: { a: 1 } },
      { hang: true, url: /x/i },
      { hang: true, urlPattern: '/x' },
      { hang: true, method: 7 },
      { websocket: true },
      { websocket: 2 },
      { websocket: { dropAfterMessages: -1 } },
      { websocket: { dropAfterMessages: 1.5 } },
      { websocket: { messageDelayMs: -5 } },
      { websocket: { messageDelay: 300 } },
      { websocket: { dropAfterMessages: 1 }, delayMs: 10 },
      { websocket: { dropAfterMessages: 1 }, body: 'x' },
      null,
    ];
    for (const rule of bad) {
      assert.throws(() => faultToPb(rule as FaultRule), TypeError, JSON.stringify(rule));
    }
    // Value ranges are the server's to judge (INVALID_ARGUMENT), not the client's.
    assert.equal(faultToPb({ status: 42 }).status?.code, 42);
    assert.equal(faultToPb({ hang: true, probability: 1.5 }).probability, 1.5);
  });

  test('rules read back in the form they are written, with id and applied', () => {
    const pb = PbFault.fromPartial({
      id: 'f1', method: 'GET', urlPattern: '/orders/.*', firstN: 2, applied: 2,
      status: { code: 503, headers: [{ name: 'Retry-After', value: '1' }], body: Buffer.from('busy') },
    });
    const expected: Fault = { id: 'f1', method: 'GET', url: '/orders/.*', firstN: 2, status: 503, headers: { 'Retry-After': '1' }, body: 'busy', applied: 2 };
    assert.deepEqual(faultFromPb(pb), expected);
    assert.deepEqual(faultFromPb(PbFault.fromPartial({ id: 'f2', delay: { seconds: 2, nanos: 0 } })), { id: 'f2', delayMs: 2000, applied: 0 });
    assert.deepEqual(faultFromPb(PbFault.fromPartial({ id: 'f3', hang: {}, probability: 0.1 })), { id: 'f3', probability: 0.1, hang: true, applied: 0 });
    assert.deepEqual(faultFromPb(PbFault.fromPartial({ id: 'f4', reset: { when: ResetFault_When.WHEN_UNSPECIFIED } })), { id: 'f4', reset: 'before-headers', applied: 0 });
    assert.deepEqual(faultFromPb(PbFault.fromPartial({ id: 'f5', reset: { when: ResetFault_When.MID_BODY }, everyNth: 4 })), { id: 'f5', everyNth: 4, reset: 'mid-body', applied: 0 });
    assert.deepEqual(faultFromPb(PbFault.fromPartial({ id: 'f6', bandwidthBytesPerSecond: 1024 })), { id: 'f6', bandwidth: 1024, applied: 0 });
    const bin = faultFromPb(PbFault.fromPartial({ id: 'f7', status: { code: 500, body: Buffer.from([0xff, 0x00]) } }));
    assert.ok(bin.body instanceof Uint8Array);
    // Round trip.
    const rule: FaultRule = { method: 'POST', url: '/pay', everyNth: 3, reset: 'after-headers' };
    const { id: _id, applied: _applied, ...back } = faultFromPb({ ...faultToPb(rule), id: 'f9', applied: 0 });
    assert.deepEqual(back, rule);
  });
});

describe('latency option (no server needed)', () => {
  test('each form reaches the generated Latency and reads back', () => {
    assert.deepEqual(latencyToPb('fast'), { mode: LatencyMode.LATENCY_FAST, scale: 0, fixed: undefined, jitter: undefined });
    assert.equal(latencyToPb('as-recorded').mode, LatencyMode.LATENCY_AS_RECORDED);
    assert.equal(latencyToPb('as-recorded').scale, 0);
    assert.equal(latencyToPb({ asRecorded: true }).mode, LatencyMode.LATENCY_AS_RECORDED);
    const scaled = latencyToPb({ asRecorded: { scale: 2 } });
    assert.equal(scaled.mode, LatencyMode.LATENCY_AS_RECORDED);
    assert.equal(scaled.scale, 2);
    const fixed = latencyToPb({ fixedMs: 100, jitterMs: 50 });
    assert.equal(fixed.mode, LatencyMode.LATENCY_FIXED);
    assert.deepEqual(fixed.fixed, { seconds: 0, nanos: 100_000_000 });
    assert.deepEqual(fixed.jitter, { seconds: 0, nanos: 50_000_000 });
    assert.deepEqual(latencyToPb(1500).fixed, { seconds: 1, nanos: 500_000_000 });
    assert.equal(latencyToPb(1500).jitter, undefined);

    for (const l of ['fast', 'as-recorded', { asRecorded: { scale: 0.5 } }, { fixedMs: 200 }, { fixedMs: 100, jitterMs: 50 }] as const) {
      assert.deepEqual(latencyFromPb(latencyToPb(l)), l);
    }
    assert.equal(latencyFromPb(undefined), undefined);
    assert.equal(latencyFromPb({ mode: LatencyMode.LATENCY_MODE_UNSPECIFIED, scale: 0, fixed: undefined, jitter: undefined }), undefined);
  });

  test('latency is a cassette option like the others', () => {
    const pb = cassetteOptions({ latency: { fixedMs: 300 } })!;
    assert.equal(pb.latency?.mode, LatencyMode.LATENCY_FIXED);
    assert.deepEqual(optionsFromPb(pb), { latency: { fixedMs: 300 } });
    const base = cassetteOptions({ protoOptions: { latency: { mode: LatencyMode.LATENCY_AS_RECORDED, scale: 3 } } })!;
    assert.deepEqual(optionsFromPb(base).latency, { asRecorded: { scale: 3 } });
  });

  test('bad latency values are refused before any call', () => {
    for (const l of ['slow', -1, { fixedMs: -5 }, { fixedMs: 10, jitterMs: 'x' }, { asRecorded: { scale: 0 } }, { asRecorded: false }, { fixedMs: 1, asRecorded: true }, null]) {
      assert.throws(() => cassetteOptions({ latency: l as never }), TypeError, JSON.stringify(l));
    }
  });
});

function pbSession(id: string, extra: Partial<PbSessionInfo> = {}): PbSessionInfo {
  return PbSessionInfo.fromPartial({ id, cassette: 'c', mode: Mode.REPLAY, proxyAddress: '127.0.0.1:40001', ...extra });
}

describe('SetFaults / ClearFaults calls (fake server)', () => {
  let fake: FakeControl;
  let client: MatgtoClient;
  const rules = [PbFault.fromPartial({ id: 'f1', status: { code: 503 }, firstN: 2, applied: 1 })];
  before(async () => {
    fake = await startFakeControl({
      setFaults: (req) => SetFaultsResponse.fromPartial({ faults: [...rules, ...req.faults.map((f: PbFault, i: number) => ({ ...f, id: `f${i + 2}` }))], seed: req.seed || BIG_SEED }),
      clearFaults: (req) =>
        req.ids.includes('f404') ? grpcError(status.NOT_FOUND, 'session s-1 has no fault rule f404') : ClearFaultsResponse.fromPartial({ faults: req.ids.length ? rules : [] }),
      useCassette: (req) => UseCassetteResponse.fromPartial({ session: pbSession(req.newSession ? 's-00000000000000aa' : 'default', { faultSeed: BIG_SEED, faults: rules }) }),
      stopRecording: () => StopRecordingResponse.fromPartial({ summary: { endReason: 'stopped' } }),
      getStatus: () =>
        GetStatusResponse.fromPartial({
          version: '0.1.0', apiVersion: 1, proxyAddress: '127.0.0.1:1',
          sessions: [pbSession('s-00000000000000aa', { faultSeed: 7n, faults: [{ ...rules[0]!, applied: 2 }] })],
        }),
    });
    client = new MatgtoClient(fake.address);
  });
  after(() => {
    client.close();
    fake.stop();
  });

  test('setFaults sends the session, the rules and the seed; returns ids and the exact seed', async () => {
    const set = await client.setFaults('s-1', [{ hang: true, url: '/slow' }, { delayMs: 5 }], { seed: 7 });
    const req = fake.requests('setFaults').at(-1);
    assert.equal(req.session, 's-1');
    assert.equal(req.seed, 7n);
    assert.equal(req.faults.length, 2);
    assert.deepEqual(req.faults[0].hang, {});
    assert.equal(req.faults[0].urlPattern, '/slow');
    assert.deepEqual(set.faults.map((f) => f.id), ['f1', 'f2', 'f3']);
    assert.equal(set.seed, 7n);

    const one = await client.setFaults(undefined, { status: 503 });
    const req2 = fake.requests('setFaults').at(-1);
    assert.equal(req2.session, '', 'the default session is the empty id');
    assert.equal(req2.seed, 0n, 'no seed: keep the session\'s');
    assert.equal(one.seed, BIG_SEED, 'a seed above 2^53 arrives exact');
    await client.setFaults('default', { status: 503 }, { seed: BIG_SEED });
    assert.equal(fake.requests('setFaults').at(-1).session, '');
    assert.equal(fake.requests('setFaults').at(-1).seed, BIG_SEED);
    await client.setFaults('s-1', { reset: 'mid-body', probability: 0.1, seed: 9n });
    assert.equal(fake.requests('setFaults').at(-1).seed, 9n, 'a seed given in the rule');
  });

  test('bad rules, seeds and ids throw TypeError without a call', async () => {
    const before = fake.requests('setFaults').length;
    await assert.rejects(client.setFaults('s-1', [{ hang: true }, { status: 503, delayMs: 1 } as never]), /fault rule 1: .*exactly one action/);
    await assert.rejects(client.setFaults('s-1', { hang: true }, { seed: -1 }), TypeError);
    await assert.rejects(client.setFaults('s-1', { hang: true }, { seed: 2 ** 60 }), TypeError, 'an unsafe number seed');
    await assert.rejects(client.setFaults('s-1', { hang: true, seed: 1 }, { seed: 2 }), /conflicting seeds/);
    await assert.rejects(client.clearFaults('s-1', [7 as never]), TypeError);
    assert.equal(fake.requests('setFaults').length, before);
  });

  test('clearFaults sends the ids (none: all) and maps NOT_FOUND', async () => {
    assert.deepEqual(await client.clearFaults('s-1'), []);
    assert.deepEqual(fake.requests('clearFaults').at(-1).ids, []);
    const left = await client.clearFaults('s-1', 'f2');
    assert.deepEqual(fake.requests('clearFaults').at(-1).ids, ['f2']);
    assert.deepEqual(left.map((f) => f.id), ['f1']);
    await client.clearFaults('s-1', ['f2', 'f3']);
    assert.deepEqual(fake.requests('clearFaults').at(-1).ids, ['f2', 'f3']);
    const err = await client.clearFaults('s-1', 'f404').catch((e: unknown) => e);
    assert.ok(err instanceof CassetteNotFoundError, String(err));
    assert.equal(err.rpc, 'ClearFaults');
  });

  test('INVALID_ARGUMENT from SetFaults is an InvalidArgumentError', async () => {
    fake.on('setFaults', () => grpcError(status.INVALID_ARGUMENT, 'fault 0: bad url_pattern: missing )'));
    try {
      const err = await client.setFaults('s-1', { hang: true, url: '(' }).catch((e: unknown) => e);
      assert.ok(err instanceof InvalidArgumentError, String(err));
      assert.equal(err.rpc, 'SetFaults');
      assert.match(err.message, /bad url_pattern/);
    } finally {
      fake.on('setFaults', (req) => SetFaultsResponse.fromPartial({ faults: req.faults, seed: req.seed || 1n }));
    }
  });

  test('session info carries faults and the seed; the session object adds, clears and refreshes', async () => {
    const s = await client.useCassette('c', { newSession: true, leaseMs: 0 });
    assert.equal(s.faultSeed, BIG_SEED);
    assert.deepEqual(s.faults, [{ id: 'f1', firstN: 2, status: 503, applied: 1 }]);
    const set = await s.addFaults({ delayMs: 2000 }, { seed: 5 });
    const req = fake.requests('setFaults').at(-1);
    assert.equal(req.session, 's-00000000000000aa');
    assert.equal(req.seed, 5n);
    assert.deepEqual(set, [{ id: '', delayMs: 2000, applied: 0 }]);
    assert.equal(s.faultSeed, 5n, 'addFaults updates faultSeed');
    assert.deepEqual(s.faults, set, 'addFaults updates faults');
    assert.deepEqual(await s.clearFaults(), []);
    assert.equal(fake.requests('clearFaults').at(-1).session, 's-00000000000000aa');
    assert.deepEqual(s.faults, []);
    const now = await s.info();
    assert.equal(now?.faultSeed, 7n);
    assert.equal(now?.faults[0]?.applied, 2);
    assert.equal(await client.sessionInfo('s-gone'), undefined);
    await s.stop();
  });

  test('the test helper sets its faults and seed before handing the session over', async () => {
    const hooks: Array<() => unknown> = [];
    const t: TestContextLike = { name: 'h', fullName: 'h', filePath: '/x/h.test.js', after: (fn) => void hooks.push(fn) };
    const n = fake.requests('setFaults').length;
    const h = await useCassette(t, { client, faults: [{ status: 503, firstN: 2 }], faultSeed: 11, latency: { fixedMs: 300 } });
    assert.equal(fake.requests('setFaults').length, n + 1);
    const req = fake.requests('setFaults').at(-1);
    assert.equal(req.session, h.session.id);
    assert.equal(req.seed, 11n);
    assert.equal(req.faults[0].status.code, 503);
    assert.equal(req.faults[0].firstN, 2);
    assert.equal(fake.requests('useCassette').at(-1).options.latency.mode, LatencyMode.LATENCY_FIXED);
    assert.equal(typeof h.session.addFaults, 'function');
    for (const hook of hooks) await hook();
  });
});
