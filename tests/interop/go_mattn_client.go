// A Go program using github.com/mattn/go-xmlrpc (Debian golang-github-mattn-go-xmlrpc-dev),
// built against the Debian source tree (GOPATH, no modules).
//
// Usage: go_mattn_client URL A B NAME LARGE_COUNT MARKUP (built with go_lines.go)
// Prints one JSON object per call. The library returns interface{} values
// (Struct, Array, []byte for <base64>, time.Time) and has no fault type: a
// <fault> reply is an error "invalid response: missing params".
package main

import (
	"encoding/hex"
	"fmt"

	"github.com/mattn/go-xmlrpc"
)

func report(call string, result interface{}, err error) {
	line := map[string]interface{}{"call": call}
	if err == nil {
		line["result"] = result
	} else {
		line["error"] = fmt.Sprintf("%T: %v", err, err)
	}
	printLine(line)
}

func call(client *xmlrpc.Client, name string, method string, args ...interface{}) {
	result, err := client.Call(method, args...)
	report(name, result, err)
}

func main() {
	args := parseArguments("go_mattn_client")
	url, name, markup, a, b, large := args.url, args.name, args.markup, args.a, args.b, args.large
	client := xmlrpc.NewClient(url)

	call(client, "add", "add", a, b)
	call(client, "subtract", "subtract", a, b)
	call(client, "divide", "divide", a, b)
	call(client, "divide_by_zero", "divide", a, 0)
	call(client, "hello", "hello", name)
	call(client, "ping_markup", "ping", markup)
	call(client, "ping_struct", "ping", xmlrpc.Struct{
		"number": a, "text": "plain", "list": xmlrpc.Array{a, b, "three"},
		"nested": xmlrpc.Struct{"real": 2.5}})
	call(client, "ping_array", "ping", xmlrpc.Array{a, "two", xmlrpc.Struct{"key": b},
		xmlrpc.Array{1.5}})
	call(client, "ping_double", "ping", -1234.5)
	call(client, "ping_boolean", "ping", true)

	// No dateTime: time.Time goes out as a <struct> of its (unexported) fields.
	blob, err := client.Call("ping", []byte("\x00\x01\xfe\xff<bin>"))
	if raw, ok := blob.([]byte); ok {
		blob = hex.EncodeToString(raw)
	}
	report("ping_base64", blob, err)

	call(client, "unknown_method", "no_such_method", a)
	call(client, "i8_result", "getpow", 2, 40)
	call(client, "ping_i8", "ping", int64(1)<<40) // sent as <int>, beyond 32 bits
	call(client, "ping_nil", "ping", nil)
	call(client, "multicall", "system.multicall", xmlrpc.Array{
		xmlrpc.Struct{"methodName": "add", "params": xmlrpc.Array{a, b}},
		xmlrpc.Struct{"methodName": "subtract", "params": xmlrpc.Array{a, b}},
		xmlrpc.Struct{"methodName": "divide", "params": xmlrpc.Array{a, 0}}})

	numbers := make(xmlrpc.Array, large)
	for i := range numbers {
		numbers[i] = i
	}
	echoed, err := client.Call("ping", numbers)
	sum, count := 0, 0
	if list, ok := echoed.(xmlrpc.Array); ok {
		for _, n := range list {
			if number, ok := n.(int); ok {
				sum, count = sum+number, count+1
			}
		}
	}
	report("ping_large", map[string]int{"count": count, "sum": sum}, err)

	count, total := 0, 0
	for i := 0; i < 100; i++ {
		answer, err := client.Call("add", i, b)
		if number, ok := answer.(int); ok && err == nil {
			count, total = count+1, total+number
		}
	}
	report("sequential", map[string]int{"count": count, "sum": total}, nil)
}
