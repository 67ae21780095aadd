/**
 * uWebSockets.js + msgpackr, no framework: decodes each binary message (all
 * back-to-back requests), answers every echo in ONE binary message, nothing
 * else. `node dist/benchmarks/servers/uws-msgpackr.js --port 0`
 */
import { answerFrame, loadUws, logListening, parseServerArgs } from './common';

const args = parseServerArgs(process.argv.slice(2));
const uWS = loadUws();

uWS
  .App()
  .ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: 1024 * 1024,
    maxBackpressure: 1024 * 1024,
    idleTimeout: 120,
    message: (ws, message, isBinary) => {
      if (!isBinary) {
        ws.end(1003);
        return;
      }
      let out: Buffer | null;
      try {
        // The ArrayBuffer is only valid during this callback; everything is answered before it returns.
        out = answerFrame(new Uint8Array(message));
      } catch {
        ws.end(1007);
        return;
      }
      if (out !== null) ws.send(out, true);
    },
  })
  .listen(args.host, args.port, (token) => {
    if (!token) {
      process.stderr.write(`cannot listen on ${args.host}:${args.port}\n`);
      process.exit(1);
    }
    logListening(uWS.us_socket_local_port(token), { server: 'uws-msgpackr' });
  });
