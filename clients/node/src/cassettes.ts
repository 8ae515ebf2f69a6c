import type { CassetteInfo as PbCassetteInfo } from './gen/matgto/v1/control.js';

/** A stored cassette, as `listCassettes()` and `putCassette()` report it. */
export interface CassetteInfo {
  name: string;
  sizeBytes: number;
  interactions: number;
  updatedAt: Date | undefined;
  /** "binary" or "json". */
  format: string;
}

export function cassetteInfoFromPb(i: PbCassetteInfo): CassetteInfo {
  return {
    name: i.name,
    sizeBytes: i.sizeBytes,
    interactions: i.interactions,
    updatedAt: i.updatedAt,
    format: i.format,
  };
}
