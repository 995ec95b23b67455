// node's `xmlrpc` package (npm, see package.json), as a Node service uses it.
//
// Usage: node node_xmlrpc_client.js URL A B NAME LARGE_COUNT
// Prints one JSON object per call. A fault is the native Error the callback
// receives, carrying faultCode and faultString. The package has no multicall
// helper: system.multicall is called directly. It decodes <i8> as a string.
"use strict";

const xmlrpc = require("xmlrpc");

const [url, aText, bText, name, largeText] = process.argv.slice(2);
if (largeText === undefined) {
  console.error("usage: node node_xmlrpc_client.js URL A B NAME LARGE_COUNT");
  process.exit(2);
}
const a = Number(aText);
const b = Number(bText);
const target = new URL(url);
const client = xmlrpc.createClient({
  host: target.hostname, port: Number(target.port), path: target.pathname,
});

function call(method, params) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve([new Error("no answer within 10 s")]), 10000);
    client.methodCall(method, params, (error, value) => {
      clearTimeout(timer);
      resolve([error, value]);
    });
  });
}

// Run one call; print its result, its fault, or the error the client raised.
async function report(name, method, params, shape = (value) => value) {
  const [error, value] = await call(method, params);
  const line = { call: name };
  if (error && error.faultCode !== undefined) {
    line.fault = { code: error.faultCode, message: error.faultString };
    line.native = `${error.constructor.name} with faultCode`;
  } else if (error) {
    line.error = String(error);
  } else {
    line.result = shape(value);
  }
  console.log(JSON.stringify(line));
}

// system.multicall answers [value] per success and a fault struct per failure.
const multicallEntries = (answers) => answers.map((answer) => (Array.isArray(answer)
  ? { result: answer[0] }
  : { fault: { code: answer.faultCode, message: answer.faultString } }));
const countAndSum = (items) => ({ count: items.length, sum: items.reduce((x, y) => x + y, 0) });

(async () => {
  await report("add", "add", [a, b]);
  await report("subtract", "subtract", [a, b]);
  await report("divide", "divide", [a, b]);
  await report("divide_by_zero", "divide", [a, 0]);
  await report("hello", "hello", [name]);
  await report("ping_struct", "ping",
    [{ number: a, text: "plain", list: [a, b, "three"], nested: { real: 2.5 } }]);
  await report("ping_array", "ping", [[a, "two", { key: b }, [1.5]]]);
  await report("multicall", "system.multicall", [[
    { methodName: "add", params: [a, b] },
    { methodName: "subtract", params: [a, b] },
    { methodName: "divide", params: [a, 0] },
  ]], multicallEntries);
  const large = Array.from({ length: Number(largeText) }, (_, i) => i);
  await report("ping_large", "ping", [large], countAndSum);
  await report("i8_result", "getpow", [2, 40]);
})();
