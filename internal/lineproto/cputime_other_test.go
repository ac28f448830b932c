//go:build !unix

package lineproto

func cpuTime() int64 { return 0 }
