// A Sparkplug B edge node for tests/shim/edge_node.sh, built on Eclipse Tahu's sparkplug-client
// (installed by scripts/setup.sh). On connecting it publishes NBIRTH, then a DBIRTH per device
// declaring two metrics by folder path with an alias and an engUnit property each
// (Inverter/ActivePower in kW, Weather/AirTemperature in degC) and their current values. After
// that, DDATA name metrics by alias only. An NCMD "Node Control/Rebirth" = true is answered the
// standard way: NBIRTH and every DBIRTH again, with the same aliases and current values.
// Like a live node's next scan, every birth is followed at once, in the same turn of the event
// loop, by AFTER_BIRTH samples of DDATA: a pipeline that handled a device's DATA before its
// BIRTH (on another writer, say) would find no aliases for them.
//
// Usage: node edge_node.js PORT GROUP EDGE_NODE DEVICE,DEVICE... READINGS_FILE AFTER_BIRTH
// Commands on stdin, one a line: "data N" publishes N samples, a DDATA per device each;
// "quit" publishes NDEATH and disconnects. Logs one line per event on stdout ("birth 1
// (connect) ...", "data 1: 100 samples ...", "rebirth 1 requested by NCMD ..."). Every reading
// it publishes, births included, is a line of READINGS_FILE: message type, cause ("birth B"
// for a birth and the samples right after it, "data C" for the C-th data command), device,
// metric, alias, time (ms), value.
"use strict";
const fs = require("fs");
const readline = require("readline");
const sparkplug = require("sparkplug-client");

const [port, group, edgeNode, deviceList, readingsFile, afterBirth] = process.argv.slice(2);
if (afterBirth === undefined) {
  console.error("usage: node edge_node.js PORT GROUP EDGE_NODE DEVICE,DEVICE... READINGS_FILE AFTER_BIRTH");
  process.exit(2);
}
const devices = deviceList.split(",");
const METRICS = [
  { name: "Inverter/ActivePower", type: "Double", engUnit: "kW", value: (k) => 1000 + k * 0.5 },
  // Multiples of 0.25 are exact as a Float (32 bits), so the stored double is the same number.
  { name: "Weather/AirTemperature", type: "Float", engUnit: "degC", value: (k) => 15 + (k % 80) * 0.25 },
];
// Aliases are unique within the edge node: 101, 102 for the first device, 201, 202, ...
const alias = (d, m) => (d + 1) * 100 + m + 1;
// Sample k was measured at base + k * 100 ms: in the past, and a time of its own per sample.
const base = Date.now() - 15 * 60 * 1000;
const sampleTime = (k) => base + k * 100;

const out = fs.openSync(readingsFile, "a");
const log = (line) => console.log(line);
let sample = 0; // the current sample: 0 is the value at the first birth
let commands = 0;
let cause = "birth 1";
let births = 0;
let rebirths = 0;

const client = sparkplug.newClient({
  serverUrl: `mqtt://127.0.0.1:${port}`,
  clientId: `edge-node-${edgeNode}`,
  username: "edge-node", // required by sparkplug-client; Mosquitto here allows anonymous clients
  password: "",
  groupId: group,
  edgeNode,
  version: "spBv1.0",
  publishDeath: true,
});

function metric(d, m, k, withName) {
  const spec = METRICS[m];
  const value = spec.value(k);
  const time = sampleTime(k);
  fs.writeSync(out, `${withName ? "DBIRTH" : "DDATA"}\t${cause}\t${devices[d]}\t${spec.name}\t${alias(d, m)}\t${time}\t${value}\n`);
  return {
    ...(withName ? { name: spec.name, properties: { engUnit: { type: "String", value: spec.engUnit } } } : {}),
    alias: alias(d, m),
    type: spec.type,
    value,
    timestamp: time,
  };
}

// NBIRTH and a DBIRTH per device, with the same aliases every time and the current values.
// Fresh payload objects: publishNodeBirth appends bdSeq to the metrics it is given.
function birth(why) {
  births += 1;
  cause = `birth ${births}`;
  client.publishNodeBirth({
    timestamp: Date.now(),
    metrics: [{ name: "Node Control/Rebirth", type: "Boolean", value: false }],
  });
  devices.forEach((device, d) => {
    client.publishDeviceBirth(device, {
      timestamp: Date.now(),
      metrics: METRICS.map((_, m) => metric(d, m, sample, true)),
    });
  });
  const first = sample;
  publishSamples(Number(afterBirth));
  log(`birth ${births} (${why}): NBIRTH, DBIRTH ${devices.join(" ")} at sample ${first}, then samples ${first + 1}..${sample}`);
}

// N samples, a DDATA per device each, naming metrics by alias only.
function publishSamples(n) {
  for (let i = 0; i < n; i++) {
    sample += 1;
    devices.forEach((device, d) => {
      client.publishDeviceData(device, {
        timestamp: Date.now(),
        metrics: METRICS.map((_, m) => metric(d, m, sample, false)),
      });
    });
  }
}

client.on("birth", () => birth(births === 0 ? "connect" : "reconnect"));
client.on("connect", () => log("connected"));
client.on("reconnect", () => log("reconnecting"));
client.on("offline", () => log("offline"));
client.on("error", (error) => {
  log(`error: ${error.message}`);
  process.exit(1);
});
client.on("ncmd", (payload) => {
  for (const m of payload.metrics || []) {
    if (m.name === "Node Control/Rebirth" && m.value === true) {
      rebirths += 1;
      log(`rebirth ${rebirths} requested by NCMD ${group}/${edgeNode} (payload seq ${payload.seq}, timestamp ${payload.timestamp})`);
      birth("rebirth");
    } else {
      log(`ncmd ignored: ${JSON.stringify(m)}`);
    }
  }
});
client.on("dcmd", (device, payload) => log(`dcmd for ${device} ignored: ${JSON.stringify(payload.metrics)}`));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [command, arg] = line.trim().split(/\s+/);
  if (command === "data") {
    const n = Number(arg);
    commands += 1;
    cause = `data ${commands}`;
    const first = sample + 1;
    // All in one turn of the event loop: an NCMD that arrives meanwhile is handled after them.
    publishSamples(n);
    log(`data ${commands}: samples ${first}..${sample}, ${n * devices.length} DDATA`);
  } else if (command === "quit") {
    client.on("close", () => {
      log(`closed after ${births} births, ${rebirths} of them requested`);
      process.exit(0);
    });
    client.stop();
    setTimeout(() => {
      log("no close within 5 s of quit");
      process.exit(1);
    }, 5000);
  } else {
    log(`unknown command: ${line}`);
  }
});
