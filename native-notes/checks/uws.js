// Shared by the checks: the native uWS binary itself (never the package's JS fallback) and a ws client.
'use strict';
const uws = require(`uWebSockets.js/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
const WebSocket = require('ws');
const port = (token) => uws.us_socket_local_port(token);
module.exports = { uws, WebSocket, port };
