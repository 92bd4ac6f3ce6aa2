//go:build !unix

package audit

import "io/fs"

// fileID identifies a file or folder whatever the name it is reached by: here its path
// with every link resolved.
type fileID struct {
	dev, ino uint64
	path     string
}

func idOf(path string, _ fs.FileInfo) fileID { return fileID{path: resolved(path)} }
