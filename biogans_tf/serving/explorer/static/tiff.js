// Minimal TIFF reading (uncompressed, 8/16-bit) and OME-TIFF writing (uint8), no dependencies.
// Exposes window.BiogansTiff = {decode, writeOme}.
"use strict";
(function () {
  const TAG = {
    width: 256, height: 257, bits: 258, compression: 259, stripOffsets: 273, spp: 277,
    stripBytes: 279, planar: 284, tileWidth: 322,
  };
  const SIZE = { 1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 16: 8 };

  // Decode the first two channels of a TIFF as red and green in [-1, 1].
  // Channels are the samples of one page (RGB or 2+ samples, chunky or planar), or pages 1 and 2
  // of a multi-page grayscale TIFF. Returns {w, h, red: Float32Array(h*w), green: Float32Array}.
  function decode(buffer, name) {
    const v = new DataView(buffer);
    const fail = (msg) => { throw new Error(`${name}: ${msg}`); };
    if (buffer.byteLength < 8) fail("too short to be a TIFF");
    const order = v.getUint16(0, false);
    if (order !== 0x4949 && order !== 0x4d4d) fail("not a TIFF (no II/MM byte-order mark)");
    const le = order === 0x4949;
    const magic = v.getUint16(2, le);
    if (magic === 43) fail("BigTIFF is not supported; save a classic TIFF");
    if (magic !== 42) fail(`not a TIFF (magic ${magic}, expected 42)`);
    const pages = [];
    let off = v.getUint32(4, le);
    while (off && pages.length < 2) {
      if (off + 2 > buffer.byteLength) fail("IFD offset past the end of the file");
      pages.push(readIfd(v, off, le, fail));
      off = pages[pages.length - 1].next;
    }
    const p = pages[0];
    let planes;
    if (p.spp >= 2) {
      planes = [readPlane(v, p, 0, le, fail), readPlane(v, p, 1, le, fail)];
    } else if (pages.length >= 2) {
      planes = [readPlane(v, p, 0, le, fail), readPlane(v, pages[1], 0, le, fail)];
      if (pages[1].w !== p.w || pages[1].h !== p.h) fail("pages 1 and 2 differ in size");
    } else {
      fail("one grayscale channel only; expected red and green (RGB, 2 samples or 2 pages)");
    }
    return { w: p.w, h: p.h, red: planes[0], green: planes[1] };
  }

  function readIfd(v, off, le, fail) {
    const n = v.getUint16(off, le);
    const tags = {};
    for (let i = 0; i < n; i++) {
      const e = off + 2 + 12 * i;
      const tag = v.getUint16(e, le), type = v.getUint16(e + 2, le), count = v.getUint32(e + 4, le);
      const size = SIZE[type] || 1;
      const at = size * count <= 4 ? e + 8 : v.getUint32(e + 8, le);
      const vals = [];
      for (let k = 0; k < Math.min(count, 1 << 16); k++) {
        if (type === 3) vals.push(v.getUint16(at + 2 * k, le));
        else if (type === 4) vals.push(v.getUint32(at + 4 * k, le));
        else if (type === 1 || type === 7) vals.push(v.getUint8(at + k));
      }
      tags[tag] = vals;
    }
    const get = (t, d) => (tags[t] && tags[t].length ? tags[t] : d);
    if (tags[TAG.tileWidth]) fail("tiled TIFF is not supported; save it with strips");
    const compression = get(TAG.compression, [1])[0];
    if (compression !== 1) fail(`compressed TIFF (compression ${compression}); save it uncompressed`);
    const bits = get(TAG.bits, [1])[0];
    if (bits !== 8 && bits !== 16) fail(`${bits}-bit samples; expected 8 or 16`);
    const w = get(TAG.width, [0])[0], h = get(TAG.height, [0])[0];
    if (!w || !h) fail("missing image width or height");
    return {
      w, h, bits, spp: get(TAG.spp, [1])[0], planar: get(TAG.planar, [1])[0],
      offsets: get(TAG.stripOffsets, []), counts: get(TAG.stripBytes, []),
      next: v.getUint32(off + 2 + 12 * n, le),
    };
  }

  // One sample plane of a page as floats in [-1, 1] (full scale of the bit depth).
  function readPlane(v, p, c, le, fail) {
    const bytes = p.bits / 8, wh = p.w * p.h;
    const total = p.counts.reduce((a, b) => a + b, 0);
    if (!p.offsets.length || total < wh * p.spp * bytes) fail("pixel data shorter than the image");
    const data = new Uint8Array(total);
    let pos = 0;
    p.offsets.forEach((o, i) => {
      if (o + p.counts[i] > v.byteLength) fail("strip past the end of the file");
      data.set(new Uint8Array(v.buffer, o, p.counts[i]), pos);
      pos += p.counts[i];
    });
    const dv = new DataView(data.buffer);
    const out = new Float32Array(wh);
    const max = bytes === 1 ? 255 : 65535;
    for (let i = 0; i < wh; i++) {
      const s = p.planar === 2 ? c * wh + i : i * p.spp + c;
      const val = bytes === 1 ? data[s] : dv.getUint16(2 * s, le);
      out[i] = (val / max) * 2 - 1;
    }
    return out;
  }

  // OME-TIFF (little-endian, uint8, one strip per plane, planes in XYCZT order).
  // planes: array over t of arrays over c of Uint8Array(w*h); channels: names per c.
  function writeOme(planes, w, h, channels, physicalSize) {
    const T = planes.length, C = channels.length;
    const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
    const chXml = channels.map((n, i) =>
      `<Channel ID="Channel:0:${i}" Name="${esc(n)}" SamplesPerPixel="1"/>`).join("");
    // PhysicalSize units default to micrometres in the OME schema (keeps the text ASCII).
    const xml = '<?xml version="1.0" encoding="UTF-8"?>' +
      '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">' +
      '<Image ID="Image:0" Name="biogans cell"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" ' +
      `Type="uint8" SizeX="${w}" SizeY="${h}" SizeC="${C}" SizeZ="1" SizeT="${T}" ` +
      `PhysicalSizeX="${physicalSize}" PhysicalSizeY="${physicalSize}">${chXml}` +
      `<TiffData IFD="0" PlaneCount="${T * C}"/></Pixels></Image></OME>`;
    const desc = new TextEncoder().encode(xml + "\0");
    const nPages = T * C, plane = w * h, nTags = 10, ifdSize = 2 + 12 * nTags + 4;
    const dataStart = 8 + desc.length + (desc.length % 2);
    const ifdStart = dataStart + nPages * plane + ((nPages * plane) % 2);
    const buf = new ArrayBuffer(ifdStart + nPages * ifdSize);
    const v = new DataView(buf), u8 = new Uint8Array(buf);
    v.setUint16(0, 0x4949, false); v.setUint16(2, 42, true); v.setUint32(4, ifdStart, true);
    u8.set(desc, 8);
    let page = 0;
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < C; c++, page++) {
        const dataOff = dataStart + page * plane;
        u8.set(planes[t][c], dataOff);
        let e = ifdStart + page * ifdSize;
        v.setUint16(e, nTags, true); e += 2;
        const entry = (tag, type, count, value) => {
          v.setUint16(e, tag, true); v.setUint16(e + 2, type, true); v.setUint32(e + 4, count, true);
          if (type === 3 && count === 1) v.setUint16(e + 8, value, true);
          else v.setUint32(e + 8, value, true);
          e += 12;
        };
        entry(256, 4, 1, w);
        entry(257, 4, 1, h);
        entry(258, 3, 1, 8);
        entry(259, 3, 1, 1);
        entry(262, 3, 1, 1);  // BlackIsZero
        // ImageDescription only on the first page, as OME-TIFF requires; others get an empty one.
        if (page === 0) entry(270, 2, desc.length, 8); else entry(270, 2, 1, 0);
        entry(273, 4, 1, dataOff);
        entry(277, 3, 1, 1);
        entry(278, 4, 1, h);
        entry(279, 4, 1, plane);
        v.setUint32(e, page + 1 < nPages ? ifdStart + (page + 1) * ifdSize : 0, true);
      }
    }
    return u8;
  }

  window.BiogansTiff = { decode, writeOme };
})();
