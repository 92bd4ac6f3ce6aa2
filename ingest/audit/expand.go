package audit

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// StdinName is the argument that means standard input, and the name it is reported under.
const StdinName = "-"

// Input is one file (or standard input) to read.
type Input struct {
	Path string // as given or found; StdinName for standard input
	Size int64  // on disk (compressed size for .gz); 0 for standard input
}

// Expand turns command-line arguments into the inputs to read, in reading order.
// A folder is walked recursively (hidden entries skipped) and a glob is expanded; the
// files each yields are put in rotation order, oldest first (see SortRotated). Explicit
// file arguments keep the order given. It fails when a path does not exist or a glob
// matches nothing: the caller asked for input that is not there.
func Expand(args []string) ([]Input, error) {
	var out []Input
	seen := map[string]bool{}
	add := func(p string, size int64) {
		if p != StdinName {
			if abs, err := filepath.Abs(p); err == nil {
				if seen[abs] {
					return
				}
				seen[abs] = true
			}
		}
		out = append(out, Input{Path: p, Size: size})
	}
	for _, a := range args {
		switch {
		case a == StdinName:
			add(a, 0)
		case strings.ContainsAny(a, "*?["):
			matches, err := filepath.Glob(a)
			if err != nil {
				return nil, fmt.Errorf("bad pattern %q: %w", a, err)
			}
			var files []Input
			for _, m := range matches {
				st, err := os.Stat(m)
				if err != nil {
					return nil, err
				}
				if st.Mode().IsRegular() {
					files = append(files, Input{Path: m, Size: st.Size()})
				}
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("no files match %q", a)
			}
			SortRotated(files)
			for _, f := range files {
				add(f.Path, f.Size)
			}
		default:
			st, err := os.Stat(a)
			if err != nil {
				return nil, err
			}
			if !st.IsDir() {
				add(a, st.Size())
				continue
			}
			files, err := walk(a)
			if err != nil {
				return nil, err
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("folder %s holds no files", a)
			}
			for _, f := range files {
				add(f.Path, f.Size)
			}
		}
	}
	return out, nil
}

func walk(root string) ([]Input, error) {
	var files []Input
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, Input{Path: p, Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading folder %s: %w", root, err)
	}
	SortRotated(files)
	return files, nil
}

var (
	// kube-apiserver (lumberjack) backups: audit-2023-03-10T22-38-26.382.log
	lumberjackName = regexp.MustCompile(`^(.*)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)(\.[^.]*)?$`)
	// logrotate dateext: audit.log-20230310 or audit.log-2023-03-10
	dateextName = regexp.MustCompile(`^(.*)-(\d{8}(?:\d{2,6})?|\d{4}-\d{2}-\d{2})$`)
	// logrotate numbered: audit.log.1 (higher is older)
	numberedName = regexp.MustCompile(`^(.*)\.(\d+)$`)
)

// rotation describes where a file stands among its rotated siblings.
type rotation struct {
	stem  string // the live file's name the siblings share
	stamp string // a sortable timestamp, for dated backups
	num   int    // logrotate's number (higher is older), for numbered backups
	live  bool   // the file being written to: newest
}

func rotationOf(path string) rotation {
	dir, base := filepath.Split(path)
	base = strings.TrimSuffix(base, ".gz")
	if m := lumberjackName.FindStringSubmatch(base); m != nil {
		return rotation{stem: dir + m[1] + m[3], stamp: m[2]}
	}
	if m := dateextName.FindStringSubmatch(base); m != nil {
		return rotation{stem: dir + m[1], stamp: strings.ReplaceAll(m[2], "-", "")}
	}
	if m := numberedName.FindStringSubmatch(base); m != nil {
		n, _ := strconv.Atoi(m[2])
		return rotation{stem: dir + m[1], num: n}
	}
	return rotation{stem: dir + base, live: true}
}

// SortRotated orders files so that rotated siblings come oldest first and the live file
// last: kube-apiserver's audit-<time>.log backups by time, logrotate's audit.log.N by
// falling N, dated backups by date. Unrelated files keep name order.
func SortRotated(files []Input) {
	sort.SliceStable(files, func(i, j int) bool {
		a, b := rotationOf(files[i].Path), rotationOf(files[j].Path)
		if a.stem != b.stem {
			return a.stem < b.stem
		}
		if a.live != b.live {
			return b.live
		}
		if a.stamp != b.stamp {
			// dated backups before numbered ones (numbered carry no stamp)
			if a.stamp == "" || b.stamp == "" {
				return a.stamp != ""
			}
			return a.stamp < b.stamp
		}
		if a.num != b.num {
			return a.num > b.num
		}
		return files[i].Path < files[j].Path
	})
}
