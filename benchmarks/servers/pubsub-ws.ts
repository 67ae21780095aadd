/**
 * Fan-out baseline: the `ws` library, broadcasting with a send loop over the
 * topic's subscribers (the message encoded once).
 * `node dist/benchmarks/servers/pubsub-ws.js --port 0`
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { logListening, parseServerArgs } from './common';
import { handleFrame } from './pubsub-common';

const args = parseServerArgs(process.argv.slice(2));
const topics = new Map<string, Set<WebSocket>>();
const wss = new WebSocketServer({ host: args.host, port: args.port, perMessageDeflate: false, maxPayload: 1024 * 1024, clientTracking: false });

wss.on('connection', (ws) => {
  const mine = new Set<string>();
  ws.on('message', (data: Buffer) => {
    handleFrame(data, {
      subscribe: (t) => {
        let s = topics.get(t);
        if (s === undefined) topics.set(t, (s = new Set()));
        s.add(ws);
        mine.add(t);
      },
      answer: (b) => ws.send(b, { binary: true }),
      publish: (t, b) => {
        for (const c of topics.get(t) ?? []) c.send(b, { binary: true });
      },
    });
  });
  ws.on('close', () => {
    for (const t of mine) topics.get(t)?.delete(ws);
  });
  ws.on('error', () => ws.terminate());
});
wss.on('listening', () => {
  const addr = wss.address();
  logListening(typeof addr === 'object' && addr !== null ? addr.port : args.port, { server: 'pubsub-ws' });
});
