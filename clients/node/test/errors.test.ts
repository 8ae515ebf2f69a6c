import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import {
  CassetteNotFoundError,
  CorruptCassetteError,
  FailedPreconditionError,
  IncompatibleServerError,
  InvalidArgumentError,
  MatgtoError,
  PermissionDeniedError,
  ServerUnavailableError,
  UnauthenticatedError,
  UnimplementedError,
  toMatgtoError,
} from '@matgto/client';

function serviceError(code: status, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

const table: Array<[status, new (...a: never[]) => MatgtoError]> = [
  [status.NOT_FOUND, CassetteNotFoundError],
  [status.INVALID_ARGUMENT, InvalidArgumentError],
  [status.FAILED_PRECONDITION, FailedPreconditionError],
  [status.DATA_LOSS, CorruptCassetteError],
  [status.UNAVAILABLE, ServerUnavailableError],
  [status.UNIMPLEMENTED, UnimplementedError],
  [status.UNAUTHENTICATED, UnauthenticatedError],
  [status.PERMISSION_DENIED, PermissionDeniedError],
];

for (const [code, cls] of table) {
  test(`gRPC ${status[code]} maps to ${cls.name}`, () => {
    const err = toMatgtoError(serviceError(code, `server says ${code}`), 'Replay');
    assert.ok(err instanceof cls, `got ${err.constructor.name}`);
    assert.ok(err instanceof MatgtoError);
    assert.equal(err.name, cls.name);
    assert.equal(err.code, code);
    assert.equal(err.codeName, status[code]);
    assert.equal(err.serverMessage, `server says ${code}`);
    assert.equal(err.rpc, 'Replay');
    assert.match(err.message, new RegExp(`^Replay: ${status[code]}: server says ${code}$`));
  });
}

test('other gRPC codes map to the MatgtoError base class', () => {
  const err = toMatgtoError(serviceError(status.INTERNAL, 'boom'));
  assert.equal(err.constructor, MatgtoError);
  assert.equal(err.code, status.INTERNAL);
  assert.equal(err.serverMessage, 'boom');
  for (const [, cls] of table) assert.ok(!(err instanceof cls));
});

test('IncompatibleServerError is a MatgtoError but none of the status classes', () => {
  const err = new IncompatibleServerError(2, '9.0.0', 1, '127.0.0.1:1');
  assert.ok(err instanceof MatgtoError);
  for (const [, cls] of table) assert.ok(!(err instanceof cls), cls.name);
  assert.equal(toMatgtoError(err), err);
});
