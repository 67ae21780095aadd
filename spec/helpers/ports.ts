/**
 * Ports for servers a spec stops and starts again on the same port. A port
 * from `listen(0)` is an ephemeral one: once its server stops, any outgoing
 * connection on the machine (a client retrying it included) may take it as
 * its local port, and the restart then fails with EADDRINUSE. These come from
 * below the kernel's ephemeral range instead, checked free by binding.
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 2048) return low;
  } catch {
    /* not Linux */
  }
  return 32768;
}

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** `count` distinct free ports on 127.0.0.1, outside the ephemeral range. */
export async function restartablePorts(count: number): Promise<number[]> {
  const high = ephemeralLow() - 1;
  const low = Math.max(1024, high - 20000);
  const out: number[] = [];
  for (let tries = 0; out.length < count && tries < 1000; tries++) {
    const p = low + Math.floor(Math.random() * (high - low));
    if (!out.includes(p) && (await tryListen(p))) out.push(p);
  }
  if (out.length < count) throw new Error(`no ${count} free ports in ${low}..${high}`);
  return out;
}

/** A port free right now (from listen(0): ephemeral, so not for a server restarted on it, see above). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
