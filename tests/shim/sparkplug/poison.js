// Writes the Sparkplug B poison payloads of tests/shim/poison.sh, encoded by Eclipse Tahu's
// sparkplug-payload (installed by scripts/setup.sh), one file per message; mosquitto_pub
// publishes them. Usage: node poison.js OUTDIR EPOCH_MS
"use strict";
const fs = require("fs");
const path = require("path");
const sparkplug = require("sparkplug-payload").get("spBv1.0");

const [out, epochMs] = process.argv.slice(2);
if (!out || !epochMs) {
  console.error("usage: node poison.js OUTDIR EPOCH_MS");
  process.exit(2);
}
const time = Number(epochMs);
// 64-bit fields as decimal strings: protobufjs encodes them exactly, 2^63 included.
const temperature = (alias, withName, at = time) => ({
  ...(withName ? { name: "temperature" } : {}),
  ...(alias === undefined ? {} : { alias }),
  type: "Double",
  value: 21.5,
  timestamp: at,
});
const payloads = {
  // A birth, then data, of a node whose edge node id (the asset) is over 128 characters.
  "nbirth-long": { timestamp: time, seq: 0, metrics: [temperature(undefined, true)] },
  "dbirth-long": { timestamp: time, seq: 1, metrics: [temperature("1", true)] },
  "ddata-long": { timestamp: time + 1, seq: 2, metrics: [temperature("1", false, time + 1)] },
  // A metric alias of 2^63, above every signed 64-bit integer, declared and then used.
  "nbirth-alias": { timestamp: time, seq: 0, metrics: [temperature(undefined, true)] },
  "dbirth-alias": { timestamp: time, seq: 1, metrics: [temperature("9223372036854775808", true)] },
  "ddata-alias": { timestamp: time + 1, seq: 2, metrics: [temperature("9223372036854775808", false, time + 1)] },
};
for (const [name, payload] of Object.entries(payloads)) {
  fs.writeFileSync(path.join(out, `${name}.bin`), sparkplug.encodePayload(payload));
}
