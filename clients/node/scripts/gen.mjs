// Generates TypeScript from the matgto protos into src/gen/ (never checked in).
// Uses the system protoc (Debian's /usr/bin/protoc works) and the ts-proto plugin.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
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
console.log(`gen: wrote ${outDir}`);
