// A Go program using github.com/kolo/xmlrpc (Debian golang-github-kolo-xmlrpc-dev),
// built against the Debian source tree (GOPATH, no modules), as a Go service uses it.
//
// Usage: go_kolo_client URL A B NAME LARGE_COUNT MARKUP (built with go_lines.go)
// Prints one JSON object per call. The client is net/rpc over HTTP: a fault
// reaches the caller only as an rpc.ServerError string "Fault(CODE): TEXT",
// which is parsed back here; <base64> comes back as its undecoded text.
package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/rpc"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/kolo/xmlrpc"
)

var faultText = regexp.MustCompile(`^Fault\((-?\d+)\): (.*)$`)

// report prints one line: the result, the fault as the library surfaced it, or an error.
func report(call string, result interface{}, err error) {
	line := map[string]interface{}{"call": call}
	if err == nil {
		line["result"] = result
	} else if serverError, ok := err.(rpc.ServerError); ok && faultText.MatchString(string(serverError)) {
		parts := faultText.FindStringSubmatch(string(serverError))
		code, _ := strconv.Atoi(parts[1])
		line["fault"] = map[string]interface{}{"code": code, "message": parts[2]}
		line["native"] = "rpc.ServerError"
	} else {
		line["error"] = fmt.Sprintf("%T: %v", err, err)
	}
	printLine(line)
}

func call(client *xmlrpc.Client, name string, method string, args ...interface{}) {
	var result interface{}
	err := client.Call(method, args, &result)
	report(name, result, err)
}

func main() {
	args := parseArguments("go_kolo_client")
	url, name, markup, a, b, large := args.url, args.name, args.markup, args.a, args.b, args.large
	client, err := xmlrpc.NewClient(url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer client.Close()

	call(client, "add", "add", a, b)
	call(client, "subtract", "subtract", a, b)
	call(client, "divide", "divide", a, b)
	call(client, "divide_by_zero", "divide", a, 0)
	call(client, "hello", "hello", name)
	call(client, "ping_markup", "ping", markup)
	call(client, "ping_struct", "ping", map[string]interface{}{
		"number": a, "text": "plain", "list": []interface{}{a, b, "three"},
		"nested": map[string]interface{}{"real": 2.5}})
	call(client, "ping_array", "ping", []interface{}{a, "two", map[string]interface{}{"key": b},
		[]interface{}{1.5}})
	call(client, "ping_double", "ping", -1234.5)
	call(client, "ping_boolean", "ping", true)

	var when time.Time
	err = client.Call("ping", []interface{}{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, &when)
	report("ping_datetime", when.Format("2006-01-02T15:04:05"), err)
	// xmlrpc.Base64 is text the caller has encoded; the reply's <base64> is text too,
	// which the caller decodes (with the line breaks the server may add).
	var echoedBlob string
	blob := base64.StdEncoding.EncodeToString([]byte("\x00\x01\xfe\xff<bin>"))
	err = client.Call("ping", []interface{}{xmlrpc.Base64(blob)}, &echoedBlob)
	report("ping_base64_native", echoedBlob, err)
	if err == nil {
		var raw []byte
		raw, err = base64.StdEncoding.DecodeString(echoedBlob)
		echoedBlob = hex.EncodeToString(raw)
	}
	report("ping_base64", echoedBlob, err)

	call(client, "unknown_method", "no_such_method", a)
	call(client, "i8_result", "getpow", 2, 40)
	call(client, "ping_i8", "ping", int64(1)<<40) // sent as <int>, beyond 32 bits
	call(client, "ping_nil", "ping", nil)
	call(client, "multicall", "system.multicall", []interface{}{
		map[string]interface{}{"methodName": "add", "params": []interface{}{a, b}},
		map[string]interface{}{"methodName": "subtract", "params": []interface{}{a, b}},
		map[string]interface{}{"methodName": "divide", "params": []interface{}{a, 0}}})

	numbers := make([]interface{}, large)
	for i := range numbers {
		numbers[i] = i
	}
	var echoed []int
	err = client.Call("ping", []interface{}{numbers}, &echoed)
	sum := 0
	for _, n := range echoed {
		sum += n
	}
	report("ping_large", map[string]int{"count": len(echoed), "sum": sum}, err)

	count, total := 0, 0
	for i := 0; i < 100; i++ {
		var answer int
		if err = client.Call("add", []interface{}{i, b}, &answer); err != nil {
			break
		}
		count, total = count+1, total+answer
	}
	report("sequential", map[string]int{"count": count, "sum": total}, err)
}
