import { IncompatibleServerError } from './errors.js';

/** The control API generation this client speaks (package matgto.v1). */
export const SUPPORTED_API_VERSION = 1;

/**
 * Throws {@link IncompatibleServerError} unless `status.apiVersion` equals
 * {@link SUPPORTED_API_VERSION}. The client runs this on its first call.
 */
export function checkApiVersion(status: { apiVersion: number; version?: string }, address?: string): void {
  if (status.apiVersion !== SUPPORTED_API_VERSION) {
    throw new IncompatibleServerError(status.apiVersion, status.version ?? '', SUPPORTED_API_VERSION, address);
  }
}
