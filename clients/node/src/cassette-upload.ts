// What putCassette() uploads: a cassette, given as a message or its bytes,
// serialized and sent in chunks.
import type { ClientWritableStream } from '@grpc/grpc-js';
import { Cassette, type DeepPartial } from './gen/matgto/v1/cassette.js';
import { CassetteChunk } from './gen/matgto/v1/control.js';

/** Size of the chunks `putCassette()` uploads (1 MiB). */
export const CHUNK_BYTES = 1024 * 1024;

/**
 * The name `cassette` is stored under (`name`, else the cassette's own) and
 * its serialized bytes. Throws TypeError for what is not a `Cassette` (or a
 * partial of one, or its bytes), and for a cassette without a name.
 */
export function cassetteUpload(cassette: Cassette | DeepPartial<Cassette> | Uint8Array, name?: string): { target: string; data: Buffer } {
  let bytes: Uint8Array;
  let ownName: string;
  if (cassette instanceof Uint8Array) {
    bytes = cassette;
    ownName = '';
    if (name === undefined) {
      try {
        ownName = Cassette.decode(cassette).name;
      } catch (err) {
        throw new TypeError(`putCassette: the bytes are not a matgto.v1.Cassette (${String(err)})`);
      }
    }
  } else if (typeof cassette === 'object' && cassette !== null) {
    const message = Cassette.fromPartial(cassette);
    bytes = Cassette.encode(message).finish();
    ownName = message.name;
  } else {
    throw new TypeError('putCassette takes a Cassette message or its bytes');
  }
  const target = name ?? ownName;
  if (!target) throw new TypeError('putCassette: the cassette has no name; pass one');
  return { target, data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

/**
 * Writes `data` to `call` in {@link CHUNK_BYTES} chunks, the first one (sent
 * even for no bytes) naming the cassette `target`, waiting for the stream to
 * drain between them; then ends the call. Stops early once `settled()`.
 */
export async function sendChunks(call: ClientWritableStream<CassetteChunk>, target: string, data: Buffer, settled: () => boolean): Promise<void> {
  for (let offset = 0; offset === 0 || offset < data.length; offset += CHUNK_BYTES) {
    if (settled()) return;
    const chunk = CassetteChunk.fromPartial({
      name: offset === 0 ? target : '',
      data: data.subarray(offset, offset + CHUNK_BYTES),
    });
    if (!call.write(chunk)) {
      await new Promise<void>((drained) => {
        const done = () => {
          call.off('drain', done);
          call.off('close', done);
          drained();
        };
        call.on('drain', done);
        call.on('close', done);
      });
    }
  }
  call.end();
}
