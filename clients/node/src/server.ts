// A local `matgto serve` started from test code: binary from an option,
// $MATGTO_BIN or PATH; ports picked by the server; the ready-file contract
// ({"proxy","control","pid"} JSON written atomically once it listens).
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { MatgtoClient } from './client.js';
import type { MatgtoClientOptions } from './client-options.js';

/** Environment variable naming the `matgto` server binary. */
export const BINARY_ENV = 'MATGTO_BIN';

/** Options of {@link startServer}. */
export interface StartServerOptions {
  /** The server binary. Default: `$MATGTO_BIN`, else `matgto` on `PATH`. */
  binary?: string;
  /** More `matgto serve` flags, e.g. `['--max-sessions', '2']`. */
  args?: readonly string[];
  /** Where cassettes live (kept). Default: `cassettes/` in a temporary folder removed by `stop()`. */
  cassetteDir?: string;
  /** How long to wait for the ready file (default 30 000 ms). */
  timeoutMs?: number;
  /** The server's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** What the server wrote to its ready file. */
export interface ReadyInfo {
  proxy: string;
  control: string;
  pid: number;
}

/** A `matgto serve` process started by {@link startServer}. */
export interface LocalServer extends AsyncDisposable {
  /** The control API's address, `127.0.0.1:PORT`: `new MatgtoClient(server.control)`. */
  readonly control: string;
  /** The default session's proxy address, `127.0.0.1:PORT`. */
  readonly proxy: string;
  /** `http://` + `proxy`. */
  readonly proxyUrl: string;
  /** The server's process id. */
  readonly pid: number;
  /** The ready file's contents. */
  readonly ready: ReadyInfo;
  readonly cassetteDir: string;
  /** Its temporary folder (ready file, CA), removed by `stop()`. */
  readonly workdir: string;
  readonly proc: ChildProcess;
  /** Resolves with the exit code (null after a signal) once the process has exited. */
  readonly exited: Promise<number | null>;
  /** What the server printed so far (stdout and stderr). */
  logs(): string;
  /** A client of its control API (options as for `MatgtoClient`). */
  client(options?: MatgtoClientOptions): MatgtoClient;
  /** Stops the process (SIGTERM, SIGKILL after 5 s) and removes the temporary folder. Idempotent. */
  stop(): Promise<void>;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The server binary: `explicit`, else `$MATGTO_BIN`, else `matgto` on `PATH`; throws naming where it looked. */
export function findBinary(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  let path: string | undefined;
  let from: string;
  if (explicit) {
    [path, from] = [explicit, 'the binary option'];
  } else if (env[BINARY_ENV]?.trim()) {
    [path, from] = [env[BINARY_ENV]!.trim(), `$${BINARY_ENV}`];
  } else {
    from = 'PATH';
    path = (env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, 'matgto'))
      .find(isExecutable);
    if (!path) throw new Error(`no matgto server binary: pass { binary }, set $${BINARY_ENV}, or put matgto on PATH`);
  }
  if (!isExecutable(path)) throw new Error(`the matgto server binary ${path} (from ${from}) is not an executable file`);
  return resolve(path);
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Never leave a server behind when this process exits without stopping it. */
function killOnExit(proc: ChildProcess): void {
  running.add(proc);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const p of running) p.kill('SIGKILL');
    });
  }
}

/**
 * Starts `matgto serve --proxy-port 0 --control-port 0` and resolves once it
 * listens (its ready file exists). Stop it with `await server.stop()` (or
 * `await using server = await startServer()`):
 *
 * ```ts
 * let server: LocalServer;
 * before(async () => { server = await startServer(); process.env.MATGTO_SERVER = server.control; });
 * after(() => server.stop());
 * ```
 */
export async function startServer(options: StartServerOptions = {}): Promise<LocalServer> {
  const binary = findBinary(options.binary, options.env ?? process.env);
  const args = [...(options.args ?? [])];
  for (const a of args) if (typeof a !== 'string') throw new TypeError(`server arguments must be strings, not ${typeof a}`);
  const workdir = mkdtempSync(join(tmpdir(), 'matgto-node-'));
  const cassetteDir = options.cassetteDir ?? join(workdir, 'cassettes');
  mkdirSync(cassetteDir, { recursive: true });
  const readyFile = join(workdir, 'ready.json');
  const command = ['serve', '--proxy-port', '0', '--control-port', '0', '--cassette-dir', cassetteDir, '--ready-file', readyFile];
  if (!args.some((a) => /^--ca-(dir|cert)(=|$)/.test(a))) {
    command.push('--ca-dir', join(workdir, 'ca')); // a throw-away CA: tests never touch ~/.matgto/ca
  }
  command.push(...args);
  const proc = spawn(binary, command, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env });
  killOnExit(proc);
  let log = '';
  proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((res) => {
    proc.on('exit', (code) => {
      running.delete(proc);
      exitCode = code;
      res(code);
    });
    proc.on('error', (err) => {
      running.delete(proc);
      log += `cannot start ${binary}: ${err.message}\n`;
      exitCode = -1;
      res(-1);
    });
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (exitCode === undefined) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(workdir, { recursive: true, force: true });
    })());
  const fail = async (why: string): Promise<never> => {
    await stop();
    throw new Error(`${why}: ${binary} ${command.join(' ')}\n${log.slice(-4000)}`);
  };

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (exitCode !== undefined) return fail(`matgto exited (code ${exitCode}) before writing its ready file`);
    if (existsSync(readyFile)) {
      let ready: ReadyInfo;
      try {
        ready = JSON.parse(readFileSync(readyFile, 'utf8')) as ReadyInfo;
      } catch {
        return fail(`the ready file ${readyFile} is not JSON (the contract says it is written atomically)`);
      }
      if (!ready.proxy || !ready.control || ready.pid !== proc.pid) {
        return fail(`the ready file ${readyFile} lacks an address or names another process: ${JSON.stringify(ready)}`);
      }
      return {
        control: ready.control,
        proxy: ready.proxy,
        proxyUrl: `http://${ready.proxy}`,
        pid: ready.pid,
        ready,
        cassetteDir,
        workdir,
        proc,
        exited,
        logs: () => log,
        client: (clientOptions?: MatgtoClientOptions) => new MatgtoClient(ready.control, clientOptions),
        stop,
        [Symbol.asyncDispose]: stop,
      };
    }
    if (Date.now() > deadline) return fail(`matgto wrote no ready file within ${options.timeoutMs ?? 30_000} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
