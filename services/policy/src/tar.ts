import { gunzipSync } from 'node:zlib';

const BLOCK = 512;
const decoder = new TextDecoder();

/**
 * Largest decompressed bundle accepted. A real bundle is a few hundred KiB; the limit stops a
 * gzip bomb published to the bucket from exhausting every replica's memory at once.
 */
export const MAX_UNPACKED_BYTES = 64 * 1024 * 1024;

/**
 * Reads the regular files of a `.tar.gz` (as `opa build` writes it) into a map keyed by path
 * without a leading `/` or `./`. Understands ustar names with prefix, pax `path`/`size` records
 * and GNU long names; directories, links and other entries are skipped. Throws on truncated or
 * corrupt input rather than returning a partial listing.
 */
export function readTarGz(bytes: Uint8Array, maxUnpacked = MAX_UNPACKED_BYTES): Map<string, Uint8Array> {
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes, { maxOutputLength: maxUnpacked });
  } catch (err) {
    throw new Error(
      `not a gzip file, or larger than ${maxUnpacked} bytes unpacked: ${(err as Error).message}`,
    );
  }
  return readTar(tar);
}

export function readTar(tar: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let offset = 0;
  // Overrides for the next entry, from a pax extended header or a GNU long-name entry.
  let nextPath: string | undefined;
  let nextSize: number | undefined;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    verifyChecksum(header, offset);
    const type = String.fromCharCode(header[156] ?? 0);
    const size = nextSize ?? octal(header.subarray(124, 136), offset);
    const start = offset + BLOCK;
    const end = start + size;
    if (end > tar.length) throw new Error(`tar entry at ${offset} is truncated`);
    const body = tar.subarray(start, end);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;

    if (type === 'x') {
      const pax = parsePax(body);
      nextPath = pax.path ?? nextPath;
      nextSize = pax.size === undefined ? nextSize : Number(pax.size);
      continue;
    }
    if (type === 'L') {
      nextPath = cString(body);
      continue;
    }
    const path = nextPath ?? headerPath(header);
    nextPath = undefined;
    nextSize = undefined;
    // '0' and NUL are regular files; 'g' (global pax), '5' (directory), links etc. carry no policy.
    if (type === '0' || type === '\0') files.set(normalize(path), body);
  }
  return files;
}

function headerPath(header: Uint8Array): string {
  const name = cString(header.subarray(0, 100));
  const magic = cString(header.subarray(257, 263));
  const prefix = magic.startsWith('ustar') ? cString(header.subarray(345, 500)) : '';
  return prefix ? `${prefix}/${name}` : name;
}

function normalize(path: string): string {
  return path.replace(/^(\.?\/)+/, '');
}

function cString(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return decoder.decode(nul === -1 ? bytes : bytes.subarray(0, nul));
}

function octal(field: Uint8Array, offset: number): number {
  const text = cString(field).trim();
  if (!/^[0-7]+$/.test(text)) throw new Error(`tar header at ${offset} has an invalid size field`);
  return Number.parseInt(text, 8);
}

// The checksum catches a file that is not a tar at all (or is corrupt) before any size is trusted.
function verifyChecksum(header: Uint8Array, offset: number): void {
  const stored = octal(header.subarray(148, 156), offset);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
  if (sum !== stored) throw new Error(`tar header at ${offset} has a bad checksum`);
}

/** Pax records: `<length> <key>=<value>\n`, the length counting the whole record. */
function parsePax(body: Uint8Array): Record<string, string> {
  const records: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    if (space === -1) break;
    const length = Number(decoder.decode(body.subarray(pos, space)));
    if (!Number.isInteger(length) || length <= 0) break;
    const record = decoder.decode(body.subarray(space + 1, pos + length - 1));
    const eq = record.indexOf('=');
    if (eq > 0) records[record.slice(0, eq)] = record.slice(eq + 1);
    pos += length;
  }
  return records;
}
