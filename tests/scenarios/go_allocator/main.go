// go_allocator: a Go program for the deep tier's "refuse Go binaries" path.
//
// Prints "ready <pid>", then every 10 ms allocates a 64 KiB []byte, writes it and keeps
// it (at most 2048 kept = 128 MiB, reached after ~20 s; after that the oldest slot is
// replaced, so memory stays bounded), and prints "alive <n>" on stdout once per second
// (n = 64 KiB allocations made so far, strictly increasing). Exits 0 on stdin EOF or
// SIGTERM.
//
// Ground truth: a Go binary (static, CGO_ENABLED=0, no libc malloc). A tracer must refuse
// to put uretprobes on it; the test checks that "alive" lines keep coming afterwards.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const (
	blockSize = 64 * 1024
	maxKept   = 2048
)

func main() {
	if len(os.Args) != 1 {
		fmt.Fprintf(os.Stderr, "usage: %s\n", os.Args[0])
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "ready %d\n", os.Getpid())
	out.Flush()

	stop := make(chan struct{}, 2)
	go func() {
		io.Copy(io.Discard, os.Stdin) // returns on EOF or error
		stop <- struct{}{}
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)

	kept := make([][]byte, 0, maxKept)
	var n int64
	alloc := time.NewTicker(10 * time.Millisecond)
	alive := time.NewTicker(time.Second)
	defer alloc.Stop()
	defer alive.Stop()
	for {
		select {
		case <-alloc.C:
			b := make([]byte, blockSize)
			for i := range b {
				b[i] = byte(n)
			}
			if len(kept) < maxKept {
				kept = append(kept, b)
			} else {
				kept[n%maxKept] = b
			}
			n++
		case <-alive.C:
			fmt.Fprintf(out, "alive %d\n", n)
			out.Flush()
		case <-stop:
			os.Exit(0)
		case <-sigs:
			os.Exit(0)
		}
	}
}
