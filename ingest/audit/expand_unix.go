//go:build unix

package audit

import (
	"io/fs"
	"syscall"
)

// fileID identifies a file or folder whatever the name it is reached by.
type fileID struct {
	dev, ino uint64
	path     string // where the device and inode are not known
}

func idOf(path string, fi fs.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}
	}
	return fileID{path: resolved(path)}
}
