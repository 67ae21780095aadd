/**
 * The ceiling: raw uWebSockets.js echoing each binary message untouched.
 * `node dist/benchmarks/servers/raw-uws-echo.js --port 0`
 */
import { loadUws, logListening, parseServerArgs } from './common';

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
      ws.send(message, isBinary);
    },
  })
  .listen(args.host, args.port, (token) => {
    if (!token) {
      process.stderr.write(`cannot listen on ${args.host}:${args.port}\n`);
      process.exit(1);
    }
    logListening(uWS.us_socket_local_port(token), { server: 'raw-uws-echo' });
  });
