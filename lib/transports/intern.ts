/**
 * One string per client address, shared by its connections: many connections
 * come from few addresses (NAT, proxies, load generators), and an idle
 * connection is mostly what it keeps (native-notes/memory-per-connection.md).
 */
const MAX = 4096;
let seen = new Map<string, string>();

export function internAddress(text: string): string {
  const had = seen.get(text);
  if (had !== undefined) return had;
  if (seen.size >= MAX) seen = new Map(); // bounded: a flood of distinct addresses starts over
  seen.set(text, text);
  return text;
}
