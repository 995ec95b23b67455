// node's `jayson` JSON-RPC client (npm, see package.json), speaking JSON-RPC 2.0.
//
// Usage: node node_jayson_client.js URL A B NAME LARGE_COUNT
// Prints one JSON object per call. jayson hands a JSON-RPC error to the
// callback as its second argument (the first is for transport errors), so
// that is the native form of a fault here. "multicall" is a JSON-RPC batch,
// "notification" a call with a null id, which jayson sends without an id.
"use strict";

const jayson = require("jayson");

const [url, aText, bText, name, largeText] = process.argv.slice(2);
if (largeText === undefined) {
  console.error("usage: node node_jayson_client.js URL A B NAME LARGE_COUNT");
  process.exit(2);
}
const a = Number(aText);
const b = Number(bText);
const target = new URL(url);
const client = jayson.client.http({
  host: target.hostname, port: Number(target.port), path: target.pathname, timeout: 10000,
});

// jayson calls back with (transport error, JSON-RPC error, result) for 3-argument callbacks.
function call(method, params) {
  return new Promise((resolve) => {
    client.request(method, params, (failure, error, result) => resolve([failure, error, result]));
  });
}

async function report(name, method, params, shape = (value) => value) {
  const [failure, error, result] = await call(method, params);
  const line = { call: name };
  if (failure) {
    line.error = String(failure);
  } else if (error) {
    line.fault = { code: error.code, message: error.message };
    line.native = "callback error argument";
  } else {
    line.result = shape(result);
  }
  console.log(JSON.stringify(line));
}

function batch(calls) {
  const requests = calls.map(([method, params]) => client.request(method, params, undefined, false));
  return new Promise((resolve) => {
    client.request(requests, (failure, responses) => resolve([failure, responses]));
  });
}

function notify(method, params) {
  return new Promise((resolve) => {
    client.request(method, params, null, (failure, response) => resolve([failure, response]));
  });
}

(async () => {
  await report("add", "add", [a, b]);
  await report("subtract", "subtract", [a, b]);
  await report("divide", "divide", [a, b]);
  await report("divide_by_zero", "divide", [a, 0]);
  await report("hello", "hello", [name]);
  await report("ping_struct", "ping",
    [{ number: a, text: "plain", list: [a, b, "three"], nested: { real: 2.5 } }]);
  await report("ping_array", "ping", [[a, "two", { key: b }, [1.5]]]);
  const [failure, responses] = await batch([["add", [a, b]], ["subtract", [a, b]], ["divide", [a, 0]]]);
  console.log(JSON.stringify(failure ? { call: "multicall", error: String(failure) } : {
    call: "multicall",
    result: responses.map((r) => (r.error
      ? { fault: { code: r.error.code, message: r.error.message } } : { result: r.result })),
  }));
  const large = Array.from({ length: Number(largeText) }, (_, i) => i);
  await report("ping_large", "ping", [large],
    (items) => ({ count: items.length, sum: items.reduce((x, y) => x + y, 0) }));
  await report("i8_result", "getpow", [2, 40]);
  const [notifyFailure, notifyResponse] = await notify("add", [a, b]);
  console.log(JSON.stringify(notifyFailure ? { call: "notification", error: String(notifyFailure) }
    : { call: "notification", result: notifyResponse === undefined ? null : notifyResponse }));
})();
