package main

import (
	"fmt"
	"os"
)

func runServer(args []string) int {
	fmt.Fprintln(os.Stderr, "herd server: not built yet")
	return 1
}
