// The client's own types and their mapping to and from the generated
// matgto.v1 messages, one module per part of the API; this module gathers
// them for the package index and the rest of the client.
export * from './cassette-options.js';
export * from './latency.js';
export * from './cassettes.js';
export * from './sessions.js';
export * from './proxy-address.js';
export * from './status.js';
export * from './faults.js';
export { durationMs, durationFromMs } from './pb-convert.js';
