package etcd

import "time"

// SetLockTimeoutForTest shortens the file-lock wait and returns the restore function.
func SetLockTimeoutForTest(d time.Duration) func() {
	old := lockTimeout
	lockTimeout = d
	return func() { lockTimeout = old }
}
