/**
 * Fan-out baseline: bare uWebSockets.js, `app.publish` to native topics.
 * `node dist/benchmarks/servers/pubsub-uws.js --port 0`
 */
import { loadUws, logListening, parseServerArgs } from './common';
import { handleFrame } from './pubsub-common';

const args = parseServerArgs(process.argv.slice(2));
const uWS = loadUws();

const app = uWS.App();
app
  .ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: 1024 * 1024,
    maxBackpressure: 16 * 1024 * 1024,
    idleTimeout: 120,
    message: (ws, message) => {
      handleFrame(new Uint8Array(message), {
        subscribe: (t) => void ws.subscribe(t),
        answer: (b) => void ws.send(b, true),
        publish: (t, b) => void app.publish(t, b, true),
      });
    },
  })
  .listen(args.host, args.port, (token) => {
    if (!token) process.exit(1);
    logListening(uWS.us_socket_local_port(token), { server: 'pubsub-uws' });
  });
