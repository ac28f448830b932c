package main

import (
	"fmt"
	"os"
)

func runAgent(args []string) int {
	fmt.Fprintln(os.Stderr, "herd agent: not built yet")
	return 1
}
