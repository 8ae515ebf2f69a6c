// Generates TypeScript from the matgto protos into src/gen/ (never checked in).
// Uses the system protoc (Debian's /usr/bin/protoc works) and the ts-proto plugin.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = resolve(process.env.MATGTO_PROTO_DIR ?? join(pkgDir, '..', '..', 'proto'));
const outDir = join(pkgDir, 'src', 'gen');
const protoc = process.env.PROTOC ?? 'protoc';
const plugin = join(pkgDir, 'node_modules', '.bin', 'protoc-gen-ts_proto');

const files = ['matgto/v1/control.proto', 'matgto/v1/cassette.proto'];
for (const f of files) {
  if (!existsSync(join(protoDir, f))) {
    console.error(`gen: ${join(protoDir, f)} not found (set MATGTO_PROTO_DIR)`);
    process.exit(1);
  }
}
if (!existsSync(plugin)) {
  console.error(`gen: ${plugin} missing; run npm install first`);
  process.exit(1);
}

const opts = [
  'outputServices=grpc-js',
  'esModuleInterop=true',
  'importSuffix=.js',
  'env=node',
  'forceLong=number',
  'outputJsonMethods=false',
  'useExactTypes=false',
].join(',');

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const args = [
  `--plugin=protoc-gen-ts_proto=${plugin}`,
  `--ts_proto_out=${outDir}`,
  `--ts_proto_opt=${opts}`,
  `-I${protoDir}`,
];
// Well-known types (google/protobuf/duration.proto): protoc normally finds
// them itself; add the usual system location when it exists.
if (existsSync('/usr/include/google/protobuf/duration.proto')) args.push('-I/usr/include');
args.push(...files);
try {
  execFileSync(protoc, args, { stdio: 'inherit' });
} catch (err) {
  console.error(`gen: protoc failed (${err.message}); is protoc installed? (apt-get install protobuf-compiler)`);
  process.exit(1);
}
// The fault seeds are uint64 and a server picks them from all 64 bits: with
// forceLong=number, ts-proto's decoder would throw on any seed above 2^53
// (failing every call that returns a SessionInfo). They are the one 64-bit
// value a test passes back verbatim (to re-run a failing sequence), so they
// become exact `bigint`s; every other 64-bit field stays a number.
patchSeeds(join(outDir, 'matgto', 'v1', 'control.ts'));

function patchSeeds(file) {
  let text = readFileSync(file, 'utf8');
  const edits = [
    // [what, replacement, expected count]
    ['  seed: number;', '  seed: bigint;', 2],
    ['  faultSeed: number;', '  faultSeed: bigint;', 1],
    ['seed: 0 };', 'seed: 0n };', 2],
    ['    faultSeed: 0,', '    faultSeed: 0n,', 1],
    ['if (message.seed !== 0) {', 'if (message.seed !== 0n) {', 2],
    ['if (message.faultSeed !== 0) {', 'if (message.faultSeed !== 0n) {', 1],
    ['message.seed = longToNumber(reader.uint64());', 'message.seed = globalThis.BigInt(reader.uint64().toString());', 2],
    ['message.faultSeed = longToNumber(reader.uint64());', 'message.faultSeed = globalThis.BigInt(reader.uint64().toString());', 1],
    ['message.seed = object.seed ?? 0;', 'message.seed = object.seed ?? 0n;', 2],
    ['message.faultSeed = object.faultSeed ?? 0;', 'message.faultSeed = object.faultSeed ?? 0n;', 1],
    ['type Builtin = Date | Function | Uint8Array | string | number | boolean | undefined;',
     'type Builtin = Date | Function | Uint8Array | string | number | bigint | boolean | undefined;', 1],
  ];
  for (const [from, to, count] of edits) {
    const found = text.split(from).length - 1;
    if (found !== count) {
      console.error(`gen: expected ${count} of ${JSON.stringify(from)} in ${file}, found ${found}; update patchSeeds()`);
      process.exit(1);
    }
    text = text.split(from).join(to);
  }
  writeFileSync(file, text);
}
console.log(`gen: wrote ${outDir}`);
