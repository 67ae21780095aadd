/**
 * Chat rooms on ringloop pub/sub: each room is the topic `chat.ROOM`.
 * Browsers subscribe to the room's topic themselves (client.subscribe);
 * `chat.say` checks and stamps a message, keeps the room's last 50, and
 * publishes it to the topic; `chat.join` returns the room's recent messages.
 * A plain CommonJS plugin; RpcError (from the ringloop package) gives bad input its code.
 */
'use strict';
const { RpcError } = require('ringloop');

const ROOM = /^[A-Za-z0-9_-]{1,32}$/;
const HISTORY = 50; // messages kept per room
const ROOMS = 100; // rooms kept; the least recently used one goes first

function invalid(message) {
  return new RpcError('INVALID_PARAMS', message);
}

module.exports = {
  name: 'chat',
  setup(scope) {
    if (!scope.pubsub) throw new Error('the chat example needs a ringloop server with pub/sub');
    const rooms = new Map(); // room -> messages, most recently used last

    function room(name) {
      if (typeof name !== 'string' || !ROOM.test(name)) throw invalid('room: 1..32 of A-Z a-z 0-9 _ -');
      let log = rooms.get(name);
      if (log) rooms.delete(name);
      else log = [];
      rooms.set(name, log);
      if (rooms.size > ROOMS) rooms.delete(rooms.keys().next().value);
      return log;
    }

    scope.method('join', ([name]) => room(name).slice());

    scope.method('say', ([name, from, text]) => {
      const log = room(name);
      if (typeof from !== 'string' || from.length < 1 || from.length > 32) throw invalid('from: 1..32 characters');
      if (typeof text !== 'string' || text.length < 1 || text.length > 1000) throw invalid('text: 1..1000 characters');
      const message = { from, text, at: Date.now() };
      log.push(message);
      if (log.length > HISTORY) log.shift();
      scope.pubsub.publish(`chat.${name}`, message);
      return true;
    });
  },
};
