// zerorpc-node (npm `zerorpc` 0.9.8) calling the gateway's zerorpc front.
//
// Usage: node client.js ENDPOINT STREAM_COUNT
// Prints one JSON object per call: {"call", "result"} or {"call", "error": {name, message}}.
// The stream is checked here item by item (complete and in order) and reported as a count.
"use strict";

const zerorpc = require("zerorpc");

const [endpoint, countText] = process.argv.slice(2);
const client = new zerorpc.Client({ timeout: 30, heartbeatInterval: 5000 });
client.on("error", (error) => {
  console.log(JSON.stringify({ call: "client", error: { name: error.name, message: error.message } }));
});
client.connect(endpoint);

function call(name, ...args) {
  return new Promise((resolve) => {
    client.invoke(name, ...args, (error, result) => resolve([error, result]));
  });
}

function report(label, [error, result]) {
  const line = error ? { call: label, error: { name: error.name, message: error.message } }
    : { call: label, result };
  console.log(JSON.stringify(line));
}

function stream(count) {
  return new Promise((resolve) => {
    let next = 0, ordered = true;
    client.invoke("streaming_range", 0, count, 1, (error, item, more) => {
      if (error) return resolve({ call: "stream", error: { name: error.name, message: error.message } });
      if (item !== undefined && item !== null) {
        ordered = ordered && item === next;
        next += 1;
      }
      if (!more) resolve({ call: "stream", result: { count: next, ordered } });
    });
  });
}

(async () => {
  report("hello", await call("hello", "RPC"));
  report("hello_unicode", await call("hello", "J\u00fcrgen \u6771\u4eac"));
  report("listinfo", await call("listinfo", "this is test string"));
  report("getpow", await call("getpow", 2, 5));
  report("divide", await call("divide", 7, 2));
  report("ping", await call("ping", { a: [1, 2.5, null, true, "s"] }));
  report("small_stream", await (async () => {
    const items = [];
    await new Promise((resolve) => client.invoke("streaming_range", 10, 20, 2, (error, item, more) => {
      if (item !== undefined && item !== null) items.push(item);
      if (error || !more) resolve();
    }));
    return [null, items];
  })());
  report("divide_by_zero", await call("divide", 1, 0));
  report("nope", await call("nope"));
  report("overflow", await call("getpow", 3, 50));
  report("inspect_name", await call("_zerorpc_name"));
  report("ping_builtin", await call("_zerorpc_ping"));
  console.log(JSON.stringify(await stream(Number(countText))));
  report("after_stream", await call("add", 1, 2));
  client.close();
})();
