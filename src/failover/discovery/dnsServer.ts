import dgram from "node:dgram";
import { readDnsRecords } from "./dnsRecords";

const TYPE_A = 1;
const CLASS_IN = 1;
const RCODE = { ok: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4, refused: 5 };

interface Question {
  name: string;
  type: number;
  klass: number;
  /** Bytes of the question section, echoed back in the answer. */
  raw: Buffer;
}

function parseQuestion(msg: Buffer): Question | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off];
    if (len === 0) {
      off++;
      break;
    }
    if (len > 63 || off + 1 + len > msg.length) return undefined; // no compression in questions
    labels.push(msg.toString("ascii", off + 1, off + 1 + len));
    off += 1 + len;
  }
  if (off + 4 > msg.length) return undefined;
  return {
    name: labels.join(".").toLowerCase(),
    type: msg.readUInt16BE(off),
    klass: msg.readUInt16BE(off + 2),
    raw: msg.subarray(12, off + 4),
  };
}

/** A DNS response (RFC 1035 §4.1): the query's id and question, authoritative, with 0 or 1 A record. */
export function answer(query: Buffer, records: Record<string, string>, zone: string, ttlS: number): Buffer {
  const id = query.length >= 2 ? query.readUInt16BE(0) : 0;
  const rd = query.length >= 3 ? query[2] & 0x01 : 0;
  const q = parseQuestion(query);
  const header = (rcode: number, an: number, qd: number) => {
    const h = Buffer.alloc(12);
    h.writeUInt16BE(id, 0);
    h[2] = 0x80 | 0x04 | rd; // QR, AA, RD echoed
    h[3] = rcode;
    h.writeUInt16BE(qd, 4);
    h.writeUInt16BE(an, 6);
    return h;
  };
  if (!q) return header(RCODE.formErr, 0, 0);
  const inZone = q.name === zone || q.name.endsWith(`.${zone}`);
  if (!inZone || q.klass !== CLASS_IN) return Buffer.concat([header(RCODE.refused, 0, 1), q.raw]);
  const addr = records[q.name];
  if (!addr) return Buffer.concat([header(RCODE.nxDomain, 0, 1), q.raw]);
  // The name exists: other types get an empty, successful answer (NODATA), so resolvers fall back cleanly.
  if (q.type !== TYPE_A || !/^\d+\.\d+\.\d+\.\d+$/.test(addr)) return Buffer.concat([header(RCODE.ok, 0, 1), q.raw]);
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
  rr.writeUInt16BE(TYPE_A, 2);
  rr.writeUInt16BE(CLASS_IN, 4);
  rr.writeUInt32BE(ttlS, 6);
  rr.writeUInt16BE(4, 10);
  addr.split(".").forEach((o, i) => {
    rr[12 + i] = Number(o);
  });
  return Buffer.concat([header(RCODE.ok, 1, 1), q.raw, rr]);
}

/**
 * A tiny authoritative DNS responder for the failover names (A records over UDP). A tailnet split-DNS rule
 * sends the zone (e.g. `alai`) here; `discovery point NAME --provider dns` rewrites the records file and the next
 * query sees it. Short TTLs (default 5 s) keep clients from holding the old answer.
 */
export class DnsResponder {
  private readonly socket: dgram.Socket;
  private cache?: { at: number; records: Record<string, string> };

  constructor(
    private readonly recordsFile: string,
    private readonly zone: string,
    private readonly ttlS: number,
  ) {
    this.socket = dgram.createSocket("udp4");
    this.socket.on("message", (msg, rinfo) => {
      // A response (QR set) or a runt is never answered: replying to replies lets two servers loop.
      if (msg.length < 12 || msg[2] & 0x80) return;
      let reply: Buffer;
      try {
        reply = answer(msg, this.records(), this.zone, this.ttlS);
      } catch {
        // An unreadable records file: say so to the client (SERVFAIL) and keep serving.
        reply = answer(msg, {}, "", this.ttlS);
        reply[3] = (reply[3] & 0xf0) | RCODE.servFail;
      }
      this.socket.send(reply, rinfo.port, rinfo.address, () => undefined);
    });
  }

  /** Why the records file could not be read last time, while it cannot (the last good records still answer). */
  unreadable?: string;

  private records(): Record<string, string> {
    // Re-read at most every 200 ms: cheap, and a switch is visible almost at once.
    const now = Date.now();
    if (!this.cache || now - this.cache.at > 200) {
      try {
        this.cache = { at: now, records: readDnsRecords(this.recordsFile) };
        this.unreadable = undefined;
      } catch (e) {
        // A file caught half-edited by hand keeps the last good answers; with none, the query gets SERVFAIL.
        this.unreadable = (e as Error).message;
        if (!this.cache) throw e;
        this.cache.at = now;
      }
    }
    return this.cache.records;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.socket.once("error", reject);
      this.socket.bind(port, host, () => {
        this.socket.off("error", reject);
        // After the bind, a socket error (a send to a vanished client) must not stop the responder.
        this.socket.on("error", () => undefined);
        resolve(this.socket.address().port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}
