package etcd

import "syscall"

// releaseMapped drops the process's page-table entries for the first size bytes of
// bbolt's read-only file mapping (MADV_DONTNEED). The data stays in the page cache and
// is faulted back in on the next access, so a cursor keeps working; what changes is that
// a scan of a large snapshot no longer counts the whole file in its resident memory.
func releaseMapped(addr uintptr, size int64) {
	if addr == 0 || size <= 0 {
		return
	}
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(size), syscall.MADV_DONTNEED)
}
