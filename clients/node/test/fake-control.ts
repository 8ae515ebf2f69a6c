// A fake matgto control server (gRPC, 127.0.0.1) whose answers each test
// scripts, recording every request: for client behaviour that needs no real
// server (request fields, renewal timing, error mapping).
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { GetStatusResponse, ProxyControlService } from '../dist/gen/matgto/v1/control.js';

export interface FakeCall {
  rpc: string;
  request: unknown;
  at: number;
  /** The call's metadata (header name -> value). */
  metadata: Record<string, unknown>;
}

/** A scripted answer: a response message, or a gRPC error. */
export type FakeAnswer = unknown | { code: number; details: string };
export type FakeHandler = (request: any) => FakeAnswer;

export interface FakeControl {
  address: string;
  calls: FakeCall[];
  /** The requests of `rpc`, in order. */
  requests(rpc: string): any[];
  /** Replaces the handler of `rpc` ("getStatus", "useCassette", ...). */
  on(rpc: string, handler: FakeHandler): void;
  stop(): void;
}

const UNARY = [
  'getStatus', 'startRecording', 'stopRecording', 'renewSession', 'replay', 'useCassette',
  'shutdown', 'getCaCertificate', 'listCassettes', 'deleteCassette', 'setFaults', 'clearFaults',
] as const;

export function grpcError(code: number, details: string): { code: number; details: string } {
  return { code, details };
}

function isError(a: unknown): a is { code: number; details: string } {
  return typeof a === 'object' && a !== null && typeof (a as { code?: unknown }).code === 'number' && 'details' in a;
}

export async function startFakeControl(handlers: Partial<Record<(typeof UNARY)[number], FakeHandler>> = {}): Promise<FakeControl> {
  const calls: FakeCall[] = [];
  const table = new Map<string, FakeHandler>();
  table.set('getStatus', () => GetStatusResponse.fromPartial({ version: '0.1.0', apiVersion: 1, proxyAddress: '127.0.0.1:1' }));
  table.set('getCaCertificate', () => grpcError(status.UNIMPLEMENTED, 'fake: no CA'));
  for (const [k, v] of Object.entries(handlers)) table.set(k, v as FakeHandler);
  const server = new Server();
  const impl: Record<string, unknown> = {};
  for (const rpc of UNARY) {
    impl[rpc] = (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
      calls.push({ rpc, request: call.request, at: Date.now(), metadata: call.metadata.getMap() });
      const h = table.get(rpc);
      if (!h) return cb({ code: status.UNIMPLEMENTED, details: `fake: ${rpc} not scripted` });
      let answer: FakeAnswer;
      try {
        answer = h(call.request);
      } catch (err) {
        return cb({ code: status.INTERNAL, details: `fake handler threw: ${String(err)}` });
      }
      if (isError(answer)) cb(answer);
      else cb(null, answer);
    };
  }
  impl.getCassette = () => undefined;
  impl.putCassette = () => undefined;
  server.addService(ProxyControlService, impl as never);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    calls,
    requests: (rpc) => calls.filter((c) => c.rpc === rpc).map((c) => c.request),
    on: (rpc, handler) => void table.set(rpc, handler),
    stop: () => server.forceShutdown(),
  };
}

/** Waits until `cond()` holds, polling every 20 ms; throws `what` after `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
