// What both Go client programs share: their arguments and their output lines.
// Built together with each program (go build PROGRAM.go go_lines.go).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

// arguments are the command line every issue 12 program takes.
type arguments struct {
	url, name, markup string
	a, b, large       int
}

func parseArguments(program string) arguments {
	if len(os.Args) != 7 {
		fmt.Fprintf(os.Stderr, "usage: %s URL A B NAME LARGE_COUNT MARKUP\n", program)
		os.Exit(2)
	}
	numbers := make([]int, 3)
	for i, index := range []int{2, 3, 5} {
		number, err := strconv.Atoi(os.Args[index])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		numbers[i] = number
	}
	return arguments{url: os.Args[1], name: os.Args[4], markup: os.Args[6],
		a: numbers[0], b: numbers[1], large: numbers[2]}
}

// printLine writes one output line as JSON, or an error line if it cannot be encoded.
func printLine(line map[string]interface{}) {
	out, err := json.Marshal(line)
	if err != nil {
		out, _ = json.Marshal(map[string]interface{}{"call": line["call"], "error": err.Error()})
	}
	fmt.Println(string(out))
}
