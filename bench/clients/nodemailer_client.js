// Nodemailer peer: the seed app's way (a new connection per message, no pool) or a pool of one.
//
// node nodemailer_client.js --host H --port P --recipients CSV --template T [--pool]
//   [--max-connections K] [--parallel]
// Reads the same CSV and mailmerge-style template as every other client, substitutes
// {{ field }} itself, and awaits each sendMail in turn (delay 0), as the seed app's loop does;
// with --parallel every sendMail is started at once (Promise.all), as a pool of K is used.
// Run with NODE_PATH pointing at the scratch node_modules (the harness does that).
"use strict";

const fs = require("fs");
const nodemailer = require("nodemailer");

function parseArgs(argv) {
  const args = { host: "127.0.0.1", pool: false, parallel: false, "max-connections": "1" };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    if (key === "--pool") args.pool = true;
    else if (key === "--parallel") args.parallel = true;
    else if (key.startsWith("--")) args[key.slice(2)] = argv[++i];
  }
  return args;
}

function readTemplate(path) {
  const text = fs.readFileSync(path, "utf8");
  const split = text.indexOf("\n\n");
  const headers = {};
  for (const line of text.slice(0, split).split("\n")) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body: text.slice(split + 2) };
}

function readRecipients(path) {
  // The bench CSV has no quoted cells: a plain split is enough here.
  const lines = fs.readFileSync(path, "utf8").split("\n").filter((line) => line.length);
  const columns = lines[0].split(",");
  return lines.slice(1).map((line) => {
    const cells = line.split(",");
    return Object.fromEntries(columns.map((name, i) => [name, cells[i]]));
  });
}

function render(text, fields) {
  return text.replace(/\{\{ (\w+) \}\}/g, (_, name) => fields[name]);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const template = readTemplate(args.template);
  const recipients = readRecipients(args.recipients);
  const options = {
    host: args.host,
    port: Number(args.port),
    secure: false,
    ignoreTLS: true,
    name: "localhost",
  };
  if (args.pool) {
    const maxConnections = Number(args["max-connections"]);
    Object.assign(options, { pool: true, maxConnections, maxMessages: Infinity });
  }
  const transporter = nodemailer.createTransport(options);
  const message = (fields) => ({
    from: template.headers.from,
    to: render(template.headers.to, fields),
    subject: render(template.headers.subject, fields),
    text: render(template.body, fields),
  });
  let sent = 0;
  if (args.parallel) {
    await Promise.all(recipients.map((fields) => transporter.sendMail(message(fields))));
    sent = recipients.length;
  } else {
    for (const fields of recipients) {
      await transporter.sendMail(message(fields));
      sent++;
    }
  }
  transporter.close();
  process.stdout.write(JSON.stringify({ sent }) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
