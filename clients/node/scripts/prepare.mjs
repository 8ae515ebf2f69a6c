// npm's `prepare` hook: builds dist/ wherever this folder is installed from.
//
// `npm install <path to clients/node>` links the folder into the project and
// runs its `prepare`, but installs none of its dependencies: so this installs
// them (devDependencies too, from package-lock.json, scripts off) when they
// are missing, then runs the build (protoc from PATH + ts-proto, then tsc).
// `npm pack` / `npm publish` run it too (before packing); the tarball holds
// dist/ and needs no toolchain.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.env.npm_execpath
  ? [process.execPath, [process.env.npm_execpath]]
  : [process.platform === 'win32' ? 'npm.cmd' : 'npm', []];

// The outer npm's settings (omit=dev, install-links, global, prefix...) are not
// this folder's: keep only where packages come from and the cache.
const keep = new Set(['npm_config_registry', 'npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig']);
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_config_') || keep.has(k.toLowerCase())),
);

function run(...args) {
  execFileSync(npm[0], [...npm[1], ...args], { cwd: pkgDir, env, stdio: ['ignore', 'inherit', 'inherit'] });
}

const tools = ['tsc', 'protoc-gen-ts_proto'].map((b) => join(pkgDir, 'node_modules', '.bin', b));
if (!tools.every((t) => existsSync(t))) {
  console.error('matgto prepare: installing the build dependencies of @matgto/client');
  run(existsSync(join(pkgDir, 'package-lock.json')) ? 'ci' : 'install', '--include=dev', '--ignore-scripts', '--no-audit', '--no-fund');
}
run('run', '--silent', 'build');
