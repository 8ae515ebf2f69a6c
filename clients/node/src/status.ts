// The server's status (GetStatus).
import type { GetStatusResponse } from './gen/matgto/v1/control.js';
import { modeFromPb, type ReportedMode } from './cassette-options.js';
import { durationMs } from './pb-convert.js';
import { sessionFromPb, summaryFromPb, type SessionInfo, type SessionSummary } from './sessions.js';

/** HTTPS interception, as `status().tls` reports it. */
export interface TlsStatus {
  /** Where the CA certificate (PEM) is. */
  caCertificatePath: string;
  /** Hosts (glob patterns) whose CONNECT tunnels are relayed, not intercepted. */
  noIntercept: string[];
  /** Upstream certificates are not verified (--insecure-upstream). */
  insecureUpstream: boolean;
  /** Extra upstream trust anchors (--upstream-ca-file); "" when none. */
  upstreamCaFile: string;
}

export interface ServerStatus {
  /** The server's semver ("0.1.0"). */
  version: string;
  /** Control API generation (1 for matgto.v1). */
  apiVersion: number;
  /** "127.0.0.1:8888" */
  proxyAddress: string;
  controlAddress: string;
  cassetteDir: string;
  defaultMode: ReportedMode;
  /** The default session; absent while it has no cassette in use. */
  session: SessionInfo | undefined;
  /** Server uptime in milliseconds. */
  uptimeMs: number;
  /** HTTPS interception: the CA certificate's path, relayed hosts, upstream trust; undefined from servers that do not report it. */
  tls: TlsStatus | undefined;
  /** Reverse mode: the origin that origin-form requests go to; "" in forward-proxy mode. */
  reverseUpstream: string;
  /** Every open session with a cassette in use (the default one first when it has one, then by opening time). */
  sessions: SessionInfo[];
  /** Sessions that ended recently, most recent first (the server keeps at most 64). */
  endedSessions: SessionSummary[];
  /** The server's --max-sessions: open sessions allowed beyond the default one. */
  maxSessions: number;
}

export function statusFromPb(r: GetStatusResponse): ServerStatus {
  return {
    version: r.version,
    apiVersion: r.apiVersion,
    proxyAddress: r.proxyAddress,
    controlAddress: r.controlAddress,
    cassetteDir: r.cassetteDir,
    defaultMode: modeFromPb(r.defaultMode),
    session: sessionFromPb(r.session),
    uptimeMs: durationMs(r.uptime),
    tls: r.tls
      ? {
          caCertificatePath: r.tls.caCertificatePath,
          noIntercept: [...r.tls.noIntercept],
          insecureUpstream: r.tls.insecureUpstream,
          upstreamCaFile: r.tls.upstreamCaFile,
        }
      : undefined,
    reverseUpstream: r.reverseUpstream,
    sessions: r.sessions.map((x) => sessionFromPb(x)!),
    endedSessions: r.endedSessions.map(summaryFromPb),
    maxSessions: r.maxSessions,
  };
}
