import { describe, expect, it } from 'vitest';
import { checkSwsuspImage } from './check.ts';
import { corruptImagePage, locate } from './corrupt.ts';
import { PAGE_SIZE } from './format.ts';
import { parseSwsuspImage } from './parse.ts';
import { buildSwsuspImage, randomPages } from './write.ts';

const pages = randomPages({ count: 100, seed: 11, zeroFraction: 0.2 });
const nocompress = buildSwsuspImage({ pages, style: '6.12', compression: 'none' });
const lzo = buildSwsuspImage({ pages, style: '6.12', compression: 'lzo' });
const opts = (img: { devicePages: number }) => ({ devicePages: img.devicePages });
const parsed = (dev: Uint8Array, devicePages: number) => {
  const r = parseSwsuspImage(dev, { devicePages });
  if (!r.ok) throw new Error(r.error.message);
  return r.image;
};

describe('corruptImagePage', () => {
  it('flips exactly one bit in the raw page of a nocompress data page, on a copy', () => {
    // Arrange
    const before = nocompress.device.slice();
    // Act
    const r = corruptImagePage(nocompress.device, { region: 'data', index: 5, bit: 8 * 1000 + 3 }, opts(nocompress));
    // Assert
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(Buffer.from(nocompress.device).equals(Buffer.from(before))).toBe(true);
    const image = parsed(nocompress.device, nocompress.devicePages);
    const expectedDev = image.chunks[1 + image.nrMeta + 5]?.devicePages[0];
    expect(r.hit).toMatchObject({
      region: 'data',
      index: 5,
      compressed: false,
      devicePage: expectedDev,
      byteOffset: 1000,
      mask: 8,
    });
    let diffs = 0;
    for (let i = 0; i < before.length; i++) if (r.bytes[i] !== before[i]) diffs++;
    expect(diffs).toBe(1);
    const after = parsed(r.bytes, nocompress.devicePages);
    expect(after.dataPages[5]?.[1000]).toBe((image.dataPages[5]?.[1000] ?? 0) ^ 8);
    // NOTE: nothing in a nocompress image can notice it (no CRC).
    expect(checkSwsuspImage(after)).toEqual([]);
  });

  it('takes the region index modulo the region length', () => {
    // Arrange
    const image = parsed(nocompress.device, nocompress.devicePages);
    // Act
    const hit = locate(image, { region: 'data', index: image.dataPages.length + 2, bit: 0 });
    // Assert
    expect(hit).toMatchObject({ index: 2, regionLength: image.dataPages.length });
  });

  it('header 0 is the swsusp_header page (a signature bit makes the image vanish), header 1 is swsusp_info', () => {
    // Act
    const sig = corruptImagePage(lzo.device, { region: 'header', index: 0, bit: 4090 * 8 }, opts(lzo));
    const info = corruptImagePage(lzo.device, { region: 'header', index: 1, bit: 24 * 8 }, opts(lzo));
    // Assert
    if (!sig.ok || !info.ok) throw new Error('corrupt');
    expect(sig.hit.devicePage).toBe(0);
    const sigParsed = parseSwsuspImage(sig.bytes, opts(lzo));
    expect(sigParsed.ok ? 'ok' : sigParsed.error.code).toBe('badSignature');
    expect(info.hit).toMatchObject({ devicePage: lzo.entries[0], streamPage: 0, compressed: false });
    expect(checkSwsuspImage(parsed(info.bytes, lzo.devicePages)).map((v) => v.message)).toEqual([
      'x86-64 restore_data_record magic is wrong',
    ]);
  });

  it('hits a map page in chain order', () => {
    // Act: entry 3's bit 45 → a page index beyond the device
    const r = corruptImagePage(nocompress.device, { region: 'map', index: 0, bit: 3 * 64 + 45 }, opts(nocompress));
    // Assert
    if (!r.ok) throw new Error('corrupt');
    expect(r.hit.devicePage).toBe(nocompress.mapPages[0]);
    const p = parseSwsuspImage(r.bytes, opts(nocompress));
    expect(p.ok ? 'ok' : p.error.code).toBe('entryOutOfRange');
  });

  it('flips a bit inside the compressed bytes of the chunk holding a compressed data page, which the CRC catches', () => {
    for (let index = 0; index < 80; index += 7) {
      // Act
      const r = corruptImagePage(lzo.device, { region: 'data', index, bit: 8 * 2048 }, opts(lzo));
      // Assert
      if (!r.ok) throw new Error('corrupt');
      expect(r.hit.compressed).toBe(true);
      const chunk = lzo.chunks.find((c) => c.devicePages.includes(r.hit.devicePage));
      expect(chunk?.firstStreamPage).toBeLessThanOrEqual(r.hit.streamPage ?? -1);
      const p = parseSwsuspImage(r.bytes, opts(lzo));
      const outcome = p.ok ? checkSwsuspImage(p.image).map((v) => v.invariant) : [p.error.code];
      expect(outcome.length, `index ${index}`).toBeGreaterThan(0);
      expect(['CorruptImageNeverResumed', 'decompressFailed', 'badDecompressedLength']).toContain(outcome[0]);
    }
  });

  it('never touches the 8-byte cmp_len of a chunk', () => {
    // Arrange
    const image = parsed(lzo.device, lzo.devicePages);
    for (let bit = 0; bit < PAGE_SIZE * 8; bit += 997) {
      for (const region of ['meta', 'data'] as const) {
        // Act
        const hit = locate(image, { region, index: bit % 50, bit });
        // Assert
        const chunk = image.chunks.find((c) => c.devicePages[0] === hit?.devicePage);
        if (chunk !== undefined) expect(hit?.byteOffset).toBeGreaterThanOrEqual(8);
      }
    }
  });

  it('still hits the header page and the map chain of an image that no longer parses', () => {
    // Arrange: an earlier corruption broke the signature
    const first = corruptImagePage(lzo.device, { region: 'header', index: 0, bit: 4086 * 8 }, opts(lzo));
    if (!first.ok) throw new Error('corrupt');
    // Act
    const map = corruptImagePage(first.bytes, { region: 'map', index: 0, bit: 9 }, opts(lzo));
    const sigAgain = corruptImagePage(first.bytes, { region: 'header', index: 2, bit: 4086 * 8 }, opts(lzo));
    const data = corruptImagePage(first.bytes, { region: 'data', index: 0, bit: 0 }, opts(lzo));
    // Assert
    expect(map.ok && map.hit.devicePage).toBe(lzo.mapPages[0]);
    expect(sigAgain.ok && parseSwsuspImage(sigAgain.bytes, opts(lzo)).ok).toBe(true);
    expect(data.ok ? 'ok' : data.error.code).toBe('unparsable');
  });

  it('reports an unparsable image and an empty region as errors', () => {
    // Arrange
    const noImage = new Uint8Array(8 * PAGE_SIZE);
    const noData = buildSwsuspImage({
      pages: [{ pfn: 5, data: new Uint8Array(PAGE_SIZE) }],
      style: '6.12',
      compression: 'none',
    });
    // Act
    const a = corruptImagePage(noImage, { region: 'data', index: 0, bit: 0 });
    const b = corruptImagePage(noData.device, { region: 'data', index: 0, bit: 0 }, opts(noData));
    // Assert
    expect(a.ok ? 'ok' : a.error.code).toBe('unparsable');
    expect(b.ok ? 'ok' : b.error.code).toBe('emptyRegion');
  });
});
