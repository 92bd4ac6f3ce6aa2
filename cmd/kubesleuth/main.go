// Command kubesleuth is a forensics analyzer for Kubernetes audit logs and etcd.
//
// main only wires the process to run(); run returns an exit code so that tests can call
// it in-process and so that exactly one place exits.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}
