//go:build !linux

package etcd

func releaseMapped(addr uintptr, size int64) {}
