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

	"golang.org/x/sys/unix"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		n := int(s.(syscall.Signal))
		cancel(interruptedError{name: unix.SignalName(s.(syscall.Signal)), number: n})
		// a second signal: the run did not stop in time; leave now
		<-sigs
		os.Exit(128 + n)
	}()
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	signal.Stop(sigs)
	os.Exit(code)
}
