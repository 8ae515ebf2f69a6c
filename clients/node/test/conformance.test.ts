// The shared conformance suite (clients/conformance/*.json), run without a
// server: each neutral case becomes the idiomatic Node call and the message
// the client would send is compared with the case's proto JSON (read with
// @bufbuild/protobuf against a descriptor set protoc writes from proto/). A
// case that lists "node" under `skip` is skipped with its reason. See
// clients/conformance/README.md.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { createFileRegistry, fromBinary, fromJson, toBinary, toJson, type DescEnum, type DescMessage, type JsonValue } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import * as matgto from '@matgto/client';
import { cassetteOptions, CassetteOptionsMessage, sessionProxy, toMatgtoError, type CassetteOptions, type Fault, type FaultRule, type SessionInfo, type SessionSummary as Summary } from '@matgto/client';
import { defaultCassetteName, failingMisses } from '@matgto/client/testing';
import { Fault as PbFault, GetStatusResponse, SessionInfo as PbSessionInfo, SessionSummary } from '../dist/gen/matgto/v1/control.js';
import { faultFromPb, faultToPb, modeToPb, sessionFromPb, statusFromPb, summaryFromPb } from '../dist/types.js';
import { replayRequest, startRecordingRequest, useCassetteRequest } from '../dist/requests.js';
import { ReplayRequest, StartRecordingRequest, UseCassetteRequest } from '../dist/gen/matgto/v1/control.js';

const LANG = 'node';
const here = dirname(fileURLToPath(import.meta.url));
const suiteDir = resolve(here, '..', '..', 'conformance');
const protoDir = resolve(process.env.MATGTO_PROTO_DIR ?? join(here, '..', '..', '..', 'proto'));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const load = (file: string): Any => JSON.parse(readFileSync(join(suiteDir, file), 'utf8'));
const OPTIONS = load('options.json');
const ERRORS = load('errors.json');
const NAMES = load('names.json');
const ADDRESSES = load('proxy_addresses.json');
const STATUS = load('status.json');
const FAULTS = load('faults.json');
const SESSIONS = load('sessions.json');
const UNMAPPED = load('unmapped.json');

/** The protos' descriptors, as protoc writes them (the same protoc scripts/gen.mjs runs). */
const registry = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'matgto-conformance-'));
  try {
    const out = join(dir, 'set.bin');
    const args = [`-I${protoDir}`, '--include_imports', `--descriptor_set_out=${out}`];
    if (existsSync('/usr/include/google/protobuf/duration.proto')) args.push('-I/usr/include');
    execFileSync(process.env.PROTOC ?? 'protoc', [...args, 'matgto/v1/control.proto', 'matgto/v1/cassette.proto']);
    return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(out)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

function messageDesc(name: string): DescMessage {
  const d = registry.getMessage(name);
  assert.ok(d, `${name} in the descriptors`);
  return d;
}

/** Proto JSON -> binary, for the generated (ts-proto) decoder. */
function jsonToBinary(name: string, json: JsonValue): Uint8Array {
  const desc = messageDesc(name);
  return toBinary(desc, fromJson(desc, json));
}

/** The skip reason of `case` for this client, or undefined. */
function skipOf(c: Any): string | undefined {
  const r = c?.skip?.[LANG];
  return r ? `conformance: ${r}` : undefined;
}

const ms = (v: number) => v;

/** The neutral option set as the client's CassetteOptions object. */
function idiomatic(neutral: Record<string, Any>): CassetteOptions {
  const out: Any = {};
  for (const [key, v] of Object.entries(neutral)) {
    switch (key) {
      case 'on_exhausted': out.onExhausted = { error: 'error', repeat_last: 'repeat-last' }[v as string]; break;
      case 'repeat': out.repeat = v; break;
      case 'on_miss': out.onMiss = v; break;
      case 'store_decoded': out.storeDecoded = v; break;
      case 'ws_timing': out.wsTiming = { fast: 'fast', as_recorded: 'as-recorded' }[v as string]; break;
      case 'ws_speed': out.wsSpeed = v; break;
      case 'stream_timing': out.streamTiming = { fast: 'fast', as_recorded: 'as-recorded' }[v as string]; break;
      case 'stream_speed': out.streamSpeed = v; break;
      case 'match': {
        const m: Any = {};
        for (const [k, x] of Object.entries(v as Record<string, Any>)) {
          const camel = k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
          m[camel] = k === 'url_rewrites' ? (x as Any[]).map((r) => [r.pattern, r.replacement]) : x;
        }
        out.match = m;
        break;
      }
      case 'redact': {
        const r: Any = {};
        for (const [k, x] of Object.entries(v as Record<string, Any>)) {
          const known = ['headers', 'query_params', 'json_pointers', 'form_fields', 'body_patterns', 'disable_defaults', 'json_keys', 'on_unredactable'];
          assert.ok(known.includes(k), `conformance: redact.${k} is not mapped to the Node RedactRules`);
          r[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = x;
        }
        out.redact = r;
        break;
      }
      case 'latency': {
        const [[kind, a]] = Object.entries(v as Record<string, Any>);
        if (kind === 'fast') out.latency = 'fast';
        else if (kind === 'as_recorded') out.latency = a.scale === undefined ? 'as-recorded' : { asRecorded: { scale: a.scale } };
        else if (kind === 'fixed') out.latency = a.jitter_ms === undefined ? ms(a.delay_ms) : { fixedMs: a.delay_ms, jitterMs: a.jitter_ms };
        else assert.fail(`conformance: latency form ${kind} is not mapped`);
        break;
      }
      default:
        assert.fail(`conformance: option ${key} is not mapped to a Node CassetteOptions property`);
    }
  }
  return out as CassetteOptions;
}

describe('conformance: options', () => {
  for (const c of OPTIONS.cases as Any[]) {
    test(c.name, { skip: skipOf(c) }, () => {
      // What startRecording / replay / useCassette put in the request.
      const sent = cassetteOptions(idiomatic(c.options)) ?? CassetteOptionsMessage.fromPartial({});
      const want = CassetteOptionsMessage.decode(jsonToBinary('matgto.v1.CassetteOptions', c.expect));
      assert.deepStrictEqual(CassetteOptionsMessage.decode(CassetteOptionsMessage.encode(sent).finish()), want);
    });
  }
  for (const c of OPTIONS.modes as Any[]) {
    test(`mode ${c.mode}`, { skip: skipOf(c) }, () => {
      assert.equal(modeToPb(c.mode), registry.getEnum('matgto.v1.Mode')!.values.find((v) => v.name === c.expect)!.number);
    });
  }

  test('every proto field and enum value has a case', () => {
    const fields: string[] = [];
    const enums = new Map<string, DescEnum>();
    const seen = new Set<string>();
    const walk = (m: DescMessage): void => {
      if (seen.has(m.typeName) || m.typeName.startsWith('google.protobuf.')) return;
      seen.add(m.typeName);
      for (const f of m.fields) {
        fields.push(`${m.typeName}.${f.name}`);
        if (f.enum) enums.set(f.enum.typeName, f.enum);
        if (f.message) walk(f.message);
      }
    };
    for (const name of UNMAPPED.roots.messages as string[]) walk(messageDesc(name));
    for (const name of UNMAPPED.roots.enums as string[]) enums.set(name, registry.getEnum(name)!);
    const gotFields = new Set<string>();
    const gotValues = new Set<string>();
    const cover = (m: DescMessage, json: Any): void => {
      for (const [key, value] of Object.entries(json ?? {})) {
        const f = m.fields.find((x) => x.jsonName === key || x.name === key);
        assert.ok(f, `${m.typeName} has no field ${key}`);
        gotFields.add(`${m.typeName}.${f.name}`);
        for (const item of Array.isArray(value) ? value : [value]) {
          if (f.enum) gotValues.add(`${f.enum.typeName}.${item}`);
          else if (f.message && !f.message.typeName.startsWith('google.protobuf.')) cover(f.message, item);
        }
      }
    };
    for (const c of OPTIONS.cases as Any[]) cover(messageDesc('matgto.v1.CassetteOptions'), c.expect);
    for (const c of STATUS.status as Any[]) cover(messageDesc('matgto.v1.GetStatusResponse'), c.response);
    for (const c of STATUS.summary as Any[]) cover(messageDesc('matgto.v1.SessionSummary'), c.response);
    for (const c of FAULTS.cases as Any[]) cover(messageDesc('matgto.v1.Fault'), c.expect);
    for (const c of SESSIONS.cases as Any[]) cover(messageDesc(`matgto.v1.${c.rpc}Request`), c.expect);
    for (const c of OPTIONS.modes as Any[]) gotValues.add(`matgto.v1.Mode.${c.expect}`);
    const missing = fields.filter((f) => !gotFields.has(f) && !(f in UNMAPPED.fields));
    for (const [name, e] of enums) {
      for (const v of e.values) {
        const full = `${name}.${v.name}`;
        if (v.number !== 0 && !gotValues.has(full) && !(full in UNMAPPED.enum_values)) missing.push(full);
      }
    }
    assert.deepEqual(missing, [],
      `no conformance case in clients/conformance/ (options, sessions, status, faults) covers ${missing.join(', ')} (add a case, map it in every client, or list it in unmapped.json with a reason)`);
  });
});

describe('conformance: errors', () => {
  test('every gRPC code has a case', () => {
    const codes = new Set((ERRORS.cases as Any[]).map((c) => c.code));
    const missing = Object.keys(GrpcStatus).filter((k) => isNaN(Number(k)) && k !== 'OK' && !codes.has(k));
    assert.deepEqual(missing, []);
  });
  for (const c of ERRORS.cases as Any[]) {
    const kind = ERRORS.kinds[LANG][c.kind];
    test(`${c.code} ${c.about ?? ''}`, { skip: kind?.skip ? `conformance: ${c.kind}: ${kind.skip}` : undefined }, () => {
      assert.equal(typeof kind, 'string', `errors.json kinds.node does not name the error of kind ${c.kind}`);
      const code = (GrpcStatus as Any)[c.code] as number;
      const err = toMatgtoError(Object.assign(new Error(ERRORS.message), { code, details: ERRORS.message }), 'Replay', c.about);
      const cls = (matgto as Any)[kind];
      assert.ok(typeof cls === 'function', `@matgto/client exports no ${kind}`);
      assert.equal(err.constructor, cls);
      assert.equal(err.code, code);
      assert.ok(err.message.includes(ERRORS.message), err.message);
    });
  }
});

describe('conformance: names', () => {
  const segment = new RegExp(NAMES.segment);
  const accepted = (n: string) =>
    Buffer.byteLength(n) <= NAMES.max_bytes && n.split('/').every((s) => segment.test(s) && !/^\.*$/.test(s));
  // defaultCassetteName prefixes the test file; a test named by the case in
  // file "c.test.js" gives "c.test/" + the name.
  const nameOf = (n: string) =>
    defaultCassetteName({ name: n, fullName: n.split('/').join(' > '), filePath: join(process.cwd(), 'c.test.js') } as Any)
      .replace(/^c\.test\//, '');
  for (const n of NAMES.valid as string[]) {
    test(`valid ${n}`, () => {
      assert.ok(accepted(n));
      assert.equal(nameOf(n), n);
    });
  }
  const outs = new Map<string, string>();
  for (const c of NAMES.invalid as Any[]) {
    test(`invalid ${c.name.slice(0, 40)}`, { skip: skipOf(c) }, () => {
      assert.ok(!accepted(c.name));
      const got = nameOf(c.name);
      assert.ok(accepted(got) && got !== c.name, got);
      const other = outs.get(got);
      if (other !== undefined && !NAMES.distinct_skip?.[LANG]) assert.fail(`${c.name} and ${other} both give ${got}`);
      outs.set(got, c.name);
    });
  }
  if (NAMES.distinct_skip?.[LANG]) test('invalid names stay distinct', { skip: `conformance: ${NAMES.distinct_skip[LANG]}` }, () => {});
});

describe('conformance: proxy addresses', () => {
  for (const c of ADDRESSES.cases as Any[]) {
    test(`${c.proxy} via ${c.control}`, { skip: skipOf(c) }, () => {
      // What a session (session.proxy) and client.proxyUrl() hand to HTTP clients.
      assert.equal(sessionProxy({ proxyAddress: c.proxy }, c.control), c.url);
    });
  }
});

/** The neutral session options as the Node call options. */
function sessionOptions(neutral: Record<string, Any>): Any {
  const out: Any = {};
  for (const [key, v] of Object.entries(neutral)) {
    switch (key) {
      case 'new_session': out.newSession = v; break;
      case 'lease_ms': out.leaseMs = v; break;
      case 'owner': out.owner = v; break;
      case 'id': out.session = v; break;
      default: assert.fail(`conformance: session key ${key} is not mapped to a Node session option`);
    }
  }
  return out;
}

describe('conformance: sessions', () => {
  const codecs: Record<string, Any> = { StartRecording: StartRecordingRequest, Replay: ReplayRequest, UseCassette: UseCassetteRequest };
  for (const c of SESSIONS.cases as Any[]) {
    test(c.name, { skip: skipOf(c) }, () => {
      const o: Any = { ...idiomatic(c.options ?? {}), ...sessionOptions(c.session) };
      if (c.mode !== undefined) o.mode = c.mode;
      // What startRecording / replay / useCassette send.
      const sent = c.rpc === 'StartRecording' ? startRecordingRequest(c.cassette, o)
        : c.rpc === 'Replay' ? replayRequest(c.cassette, o) : useCassetteRequest(c.cassette, o);
      const codec = codecs[c.rpc];
      const want = codec.decode(jsonToBinary(`matgto.v1.${c.rpc}Request`, c.expect));
      assert.deepStrictEqual(codec.decode(codec.encode(sent).finish()), want);
    });
  }
});

const RESET: Record<string, string> = { before_headers: 'before-headers', after_headers: 'after-headers', mid_body: 'mid-body' };

/** The neutral fault as the Node rule object setFaults / session.addFaults take. */
function faultRule(neutral: Record<string, Any>): FaultRule {
  const out: Any = {};
  for (const [key, v] of Object.entries(neutral)) {
    switch (key) {
      case 'status': case 'body': case 'hang': case 'bandwidth': case 'method': case 'url': case 'probability':
        out[key] = v; break;
      case 'headers': out.headers = v; break; // [name, value] pairs
      case 'every_nth': out.everyNth = v; break;
      case 'first_n': out.firstN = v; break;
      case 'delay_ms': out.delayMs = v; break;
      case 'reset': out.reset = RESET[v as string]; break;
      case 'ws_drop_after': out.websocket = { ...out.websocket, dropAfterMessages: v }; break;
      case 'ws_delay_ms': out.websocket = { ...out.websocket, messageDelayMs: v }; break;
      case 'id': case 'applied': break; // assigned by the server
      default: assert.fail(`conformance: fault key ${key} is not mapped to a Node fault rule`);
    }
  }
  return out as FaultRule;
}

/** What a decoded Fault exposes, in the neutral form (defaults left out). */
function faultNeutral(f: Fault): Record<string, Any> {
  const r = f as Any;
  const out: Record<string, Any> = {};
  if (r.id) out.id = r.id;
  if (r.method) out.method = r.method;
  if (r.url) out.url = r.url;
  if (r.applied) out.applied = r.applied;
  if (r.probability !== undefined) out.probability = r.probability;
  if (r.everyNth !== undefined) out.every_nth = r.everyNth;
  if (r.firstN !== undefined) out.first_n = r.firstN;
  if (r.status !== undefined) out.status = r.status;
  if (r.headers !== undefined) out.headers = Object.entries(r.headers);
  if (r.body !== undefined) out.body = typeof r.body === 'string' ? r.body : Buffer.from(r.body).toString('utf8');
  if (r.delayMs !== undefined) out.delay_ms = r.delayMs;
  if (r.hang) out.hang = true;
  if (r.reset !== undefined) out.reset = (r.reset as string).replace(/-/g, '_');
  if (r.bandwidth !== undefined) out.bandwidth = r.bandwidth;
  if (r.websocket?.dropAfterMessages) out.ws_drop_after = r.websocket.dropAfterMessages;
  if (r.websocket?.messageDelayMs) out.ws_delay_ms = r.websocket.messageDelayMs;
  return out;
}

describe('conformance: faults', () => {
  for (const c of FAULTS.cases as Any[]) {
    test(c.name, { skip: skipOf(c) }, () => {
      const want = PbFault.decode(jsonToBinary('matgto.v1.Fault', c.expect));
      // Decoded as the server returns it (setFaults, SessionInfo.faults).
      assert.deepStrictEqual(faultNeutral(faultFromPb(want)), c.fault);
      // Built and sent (what setFaults puts in the request).
      want.id = '';
      want.applied = 0;
      assert.deepStrictEqual(PbFault.decode(PbFault.encode(faultToPb(faultRule(c.fault))).finish()), want);
    });
  }
});

const at = (d: Date | undefined): number => (d ? d.getTime() : 0);

function sessionNeutral(s: SessionInfo | undefined): Record<string, Any> {
  if (!s) return sessionNeutral(sessionFromPb(PbSessionInfo.fromPartial({})));
  const options = toJson(messageDesc('matgto.v1.CassetteOptions'),
    fromBinary(messageDesc('matgto.v1.CassetteOptions'), CassetteOptionsMessage.encode(cassetteOptions(s.options) ?? CassetteOptionsMessage.fromPartial({})).finish()));
  return {
    cassette: s.cassette ?? '', mode: s.mode.toUpperCase(), requested_mode: s.requestedMode.toUpperCase(),
    recorded: s.recorded, replayed: s.replayed, missed: s.missed, passed_through: s.passedThrough,
    interactions: s.interactions, options,
    misses: s.misses.map((m) => ({
      method: m.method, url: m.url, reason: m.reason,
      closest: m.closest.map((c) => ({
        interaction_index: c.interactionIndex, method: c.method, url: c.url,
        differences: c.differences.map((d) => ({ field: d.field, recorded: d.recorded, live: d.live })),
      })),
    })),
    id: s.id, proxy_address: s.proxyAddress, proxy_url: s.proxyUrl, owner: s.owner,
    opened_at: at(s.openedAt), age: s.ageMs, lease: s.leaseMs ?? 0, lease_expires_at: at(s.leaseExpiresAt),
    faults: s.faults.map(faultNeutral), fault_seed: Number(s.faultSeed),
  };
}

function summaryNeutral(s: Summary): Record<string, Any> {
  return {
    session: sessionNeutral(s.session), saved_path: s.savedPath, unused_interactions: s.unusedInteractions,
    end_reason: s.endReason, ended_at: at(s.endedAt), save_error: s.saveError, warnings: s.warnings,
    failing_misses: failingMisses(s).length,
  };
}

/** Every value `want` names equals the client's (objects: the keys named; lists: every item). */
function expectSubset(want: Any, got: Any, path: string): void {
  if (want !== null && typeof want === 'object' && !Array.isArray(want)) {
    assert.ok(got !== null && typeof got === 'object' && !Array.isArray(got), `${path}: the client exposes ${JSON.stringify(got)}, want an object`);
    for (const [k, v] of Object.entries(want)) {
      assert.ok(k in got, `conformance: ${path}.${k} is not mapped (the client exposes no such value)`);
      expectSubset(v, got[k], `${path}.${k}`);
    }
  } else if (Array.isArray(want)) {
    assert.ok(Array.isArray(got) && got.length === want.length, `${path}: got ${JSON.stringify(got)} want ${JSON.stringify(want)}`);
    want.forEach((w, i) => expectSubset(w, got[i], `${path}[${i}]`));
  } else {
    assert.deepStrictEqual(got, want, `${path}`);
  }
}

describe('conformance: status and summary', () => {
  for (const c of STATUS.status as Any[]) {
    test(c.name, { skip: skipOf(c) }, () => {
      const st = statusFromPb(GetStatusResponse.decode(jsonToBinary('matgto.v1.GetStatusResponse', c.response)));
      expectSubset(c.expect, {
        version: st.version, proxy_address: st.proxyAddress, control_address: st.controlAddress,
        cassette_dir: st.cassetteDir, default_mode: st.defaultMode.toUpperCase(), session: sessionNeutral(st.session),
        uptime: st.uptimeMs, api_version: st.apiVersion,
        tls: st.tls === undefined ? { ca_certificate_path: '', no_intercept: [], insecure_upstream: false, upstream_ca_file: '' } : {
          ca_certificate_path: st.tls.caCertificatePath, no_intercept: st.tls.noIntercept,
          insecure_upstream: st.tls.insecureUpstream, upstream_ca_file: st.tls.upstreamCaFile,
        },
        reverse_upstream: st.reverseUpstream, sessions: st.sessions.map(sessionNeutral),
        ended_sessions: st.endedSessions.map(summaryNeutral), max_sessions: st.maxSessions,
      }, 'status');
    });
  }
  for (const c of STATUS.summary as Any[]) {
    test(c.name, { skip: skipOf(c) }, () => {
      const s = summaryFromPb(SessionSummary.decode(jsonToBinary('matgto.v1.SessionSummary', c.response)));
      expectSubset(c.expect, summaryNeutral(s), 'summary');
    });
  }
});
