const P1 = 2654435761;
const P2 = 2246822519;
const P3 = 3266489917;
const P4 = 668265263;
const P5 = 374761393;

const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
const mul = (a: number, b: number) => Math.imul(a, b) >>> 0;

function round(acc: number, input: number): number {
  return mul(rotl((acc + mul(input, P2)) >>> 0, 13), P1);
}

/** xxHash32, the checksum the LZ4 frame format uses for its header and content. */
export function xxhash32(buf: Uint8Array, seed = 0): number {
  const len = buf.length;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let i = 0;
  let h: number;
  if (len >= 16) {
    let v1 = (seed + P1 + P2) >>> 0;
    let v2 = (seed + P2) >>> 0;
    let v3 = seed >>> 0;
    let v4 = (seed - P1) >>> 0;
    for (; i <= len - 16; i += 16) {
      v1 = round(v1, dv.getUint32(i, true));
      v2 = round(v2, dv.getUint32(i + 4, true));
      v3 = round(v3, dv.getUint32(i + 8, true));
      v4 = round(v4, dv.getUint32(i + 12, true));
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) >>> 0;
  } else {
    h = (seed + P5) >>> 0;
  }
  h = (h + len) >>> 0;
  for (; i <= len - 4; i += 4) h = mul(rotl((h + mul(dv.getUint32(i, true), P3)) >>> 0, 17), P4);
  for (; i < len; i++) h = mul(rotl((h + mul(buf[i], P5)) >>> 0, 11), P1);
  h = mul(h ^ (h >>> 15), P2);
  h = mul(h ^ (h >>> 13), P3);
  return (h ^ (h >>> 16)) >>> 0;
}
