import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../test/support.js';
import { readTar, readTarGz } from './tar.js';

const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

/** Packs `files` with the system tar in the given format, gzipped. */
function pack(format: 'ustar' | 'pax' | 'gnu', files: Record<string, string>): Buffer {
  const root = tempDir(`tar-${format}`);
  const dir = join(root, 'src');
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  const out = join(root, 'archive.tar.gz');
  execFileSync('tar', ['-czf', out, `--format=${format}`, '-C', dir, ...Object.keys(files)]);
  return readFileSync(out);
}

describe('readTarGz', () => {
  it('reads regular files of a ustar archive, without directory entries', () => {
    const files = readTarGz(pack('ustar', { 'a/data.json': '{"x":1}', 'policy.wasm': 'wasm' }));
    expect([...files.keys()].sort()).toEqual(['a/data.json', 'policy.wasm']);
    expect(text(files.get('a/data.json'))).toBe('{"x":1}');
  });

  it('reads names longer than 100 characters from pax and GNU archives', () => {
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(80)}.json`;
    for (const format of ['pax', 'gnu'] as const) {
      const files = readTarGz(pack(format, { [long]: 'long', 'short.txt': 'short' }));
      expect(text(files.get(long))).toBe('long');
      expect(text(files.get('short.txt'))).toBe('short');
    }
  });

  it('keeps an empty file and a file of exactly one block', () => {
    const block = 'b'.repeat(512);
    const files = readTarGz(pack('ustar', { empty: '', block, after: 'z' }));
    expect(files.get('empty')?.byteLength).toBe(0);
    expect(text(files.get('block'))).toBe(block);
    expect(text(files.get('after'))).toBe('z');
  });

  it('refuses input that is not gzip, a corrupt header and a truncated entry', () => {
    expect(() => readTarGz(new TextEncoder().encode('plain text'))).toThrow(/not a gzip file/);
    const tar = new Uint8Array(gunzipSync(pack('ustar', { big: 'x'.repeat(2000) })));
    const corrupt = tar.slice();
    corrupt[0] = (corrupt[0] ?? 0) ^ 0xff;
    expect(() => readTar(corrupt)).toThrow(/bad checksum/);
    expect(() => readTar(tar.subarray(0, 600))).toThrow(/truncated/);
  });

  it('refuses an archive that unpacks beyond the limit (gzip bomb)', () => {
    const bomb = gzipSync(Buffer.alloc(1 << 20));
    expect(bomb.byteLength).toBeLessThan(4096);
    expect(() => readTarGz(bomb, 64 * 1024)).toThrow(/larger than 65536 bytes/);
  });
});
