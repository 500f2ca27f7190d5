// Nodemailer's smtp-server as a counting sink, with the same control protocol as bench/sink.py.
//
// node smtp_server_sink.js [--no-greeting-delay]
// Prints "READY <port>", then answers each stdin line: "stats" -> one JSON line (count, window,
// connections, starts), "reset" -> "ok". smtp-server waits 100 ms before its greeting (to catch
// clients that talk too early); --no-greeting-delay removes that wait. Run with NODE_PATH
// pointing at the scratch node_modules (the harness does that).
"use strict";

const readline = require("readline");
const { SMTPServer } = require("smtp-server");
const { SMTPConnection } = require("smtp-server/lib/smtp-connection.js");

if (process.argv.includes("--no-greeting-delay")) {
  // The stock init() with its 100 ms setTimeout before connectionReady() taken out.
  SMTPConnection.prototype.init = function init() {
    this._setListeners(() => {
      const max = this._server.options.maxClients;
      if (max && this._server.connections.size > max) {
        return this.send(421, this.name + " Too many connected clients, try again in a moment", false);
      }
      this.connectionReady();
    });
  };
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

function freshStats() {
  return { count: 0, connections: 0, firstConnect: null, lastMessage: null, starts: [] };
}
let stats = freshStats();

const server = new SMTPServer({
  secure: false,
  authOptional: true,
  disabledCommands: ["AUTH", "STARTTLS"],
  disableReverseLookup: true,
  logger: false,
  onMailFrom(address, session, callback) {
    stats.starts.push(now());
    callback();
  },
  onData(stream, session, callback) {
    stream.on("data", () => {});
    stream.on("end", () => {
      stats.count++;
      stats.lastMessage = now();
      callback(null, "OK queued");
    });
  },
});

// Counted at the TCP accept, before the greeting delay, as the Python sink counts them.
server.server.on("connection", () => {
  stats.connections++;
  if (stats.firstConnect === null) stats.firstConnect = now();
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`READY ${server.server.address().port}\n`);
});

const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => {
  const command = line.trim();
  if (command === "stats") {
    const first = stats.firstConnect || 0;
    const window = stats.lastMessage === null ? 0 : stats.lastMessage - first;
    const starts = stats.starts.map((at) => Math.round((at - first) * 1e6) / 1e6);
    process.stdout.write(
      JSON.stringify({ count: stats.count, window, connections: stats.connections, starts }) + "\n",
    );
  } else if (command === "reset") {
    stats = freshStats();
    process.stdout.write("ok\n");
  } else {
    process.stdout.write(JSON.stringify({ error: `unknown command ${command}` }) + "\n");
  }
});
input.on("close", () => server.close(() => process.exit(0)));
