/**
 * The same MessagePack-RPC echo server on the `ws` library.
 * `node dist/benchmarks/servers/ws-rpc.js --port 0`
 */
import { WebSocketServer, type RawData } from 'ws';
import { answerFrame, logListening, parseServerArgs } from './common';

const args = parseServerArgs(process.argv.slice(2));

const wss = new WebSocketServer({
  host: args.host,
  port: args.port,
  perMessageDeflate: false,
  maxPayload: 1024 * 1024,
  clientTracking: false,
});

wss.on('connection', (ws) => {
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (!isBinary) {
      ws.close(1003);
      return;
    }
    let out: Buffer | null;
    try {
      out = answerFrame(data as Buffer);
    } catch {
      ws.close(1007);
      return;
    }
    if (out !== null) ws.send(out, { binary: true });
  });
  ws.on('error', () => ws.terminate());
});

wss.on('listening', () => {
  const addr = wss.address();
  logListening(typeof addr === 'object' && addr !== null ? addr.port : args.port, { server: 'ws-rpc' });
});
