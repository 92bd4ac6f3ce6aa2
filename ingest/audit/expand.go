package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

// Expand turns command-line arguments into the inputs to read, in reading order (see
// ExpandNotes, which also says what it skipped).
func Expand(args []string) ([]Input, error) {
	inputs, _, err := ExpandNotes(args)
	return inputs, err
}

// ExpandNotes turns command-line arguments into the inputs to read, in reading order.
// A folder is walked recursively (hidden entries skipped) and a glob is expanded; the
// files each yields are put in rotation order, oldest first (see SortRotated). Explicit
// file arguments keep the order given. Links inside a folder are followed, to files and
// to folders; each file is read once however many names lead to it (the name that is not
// a link wins), and a link back to a folder above it is not followed. Each link (or
// second name) skipped that way, and each dangling link, is returned as a note naming it
// and its target. It fails when a path does not exist, a folder holds no files or
// cannot be read, or a glob matches nothing: the caller asked for input that is not
// there.
func ExpandNotes(args []string) ([]Input, []*InputError, error) {
	x := &expander{paths: map[string]bool{}, files: map[fileID]string{}, dirs: map[fileID]string{}}
	for _, a := range args {
		switch {
		case a == StdinName:
			x.out = append(x.out, Input{Path: a})
		case strings.ContainsAny(a, "*?["):
			matches, err := filepath.Glob(a)
			if err != nil {
				return nil, nil, fmt.Errorf("bad pattern %q: %w", a, err)
			}
			var files []found
			for _, m := range matches {
				st, err := os.Stat(m)
				if err != nil {
					return nil, nil, err
				}
				if st.Mode().IsRegular() {
					files = append(files, found{path: m, info: st, target: linkTarget(m)})
				}
			}
			if len(files) == 0 {
				return nil, nil, fmt.Errorf("no files match %q", a)
			}
			x.addAll(files)
		default:
			st, err := os.Stat(a)
			if err != nil {
				return nil, nil, err
			}
			if !st.IsDir() {
				x.addAll([]found{{path: a, info: st, target: linkTarget(a)}})
				continue
			}
			n, err := x.walk(a, st)
			if err != nil {
				return nil, nil, fmt.Errorf("reading folder %s: %w", a, err)
			}
			if n == 0 {
				return nil, nil, fmt.Errorf("folder %s holds no files", a)
			}
		}
	}
	return x.out, x.notes, nil
}

// expander keeps what was found so far. Its maps grow with the number of files and
// folders named, not with their content.
type expander struct {
	out   []Input
	notes []*InputError
	paths map[string]bool   // absolute paths taken
	files map[fileID]string // file identity -> the path it is read as
	dirs  map[fileID]string // folder identity -> the path it was walked as
}

// found is a file met while expanding; target is set when path itself is a link.
type found struct {
	path   string
	info   fs.FileInfo
	target string
}

func linkTarget(p string) string {
	if st, err := os.Lstat(p); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		t, _ := os.Readlink(p)
		return t
	}
	return ""
}

func (x *expander) note(path string, reason Reason, format string, a ...any) {
	x.notes = append(x.notes, &InputError{File: path, Reason: reason, Unit: UnitFile, Msg: fmt.Sprintf(format, a...)})
}

// claim takes f unless its file is taken already (noted, unless it is the very same
// path named again, which is silently read once).
func (x *expander) claim(f found) bool {
	abs, err := filepath.Abs(f.path)
	if err == nil {
		if x.paths[abs] {
			return false
		}
	}
	id := idOf(f.path, f.info)
	if prev, ok := x.files[id]; ok {
		if f.target != "" {
			x.note(f.path, LinkRepeat, "a link to %s, which is read already as %s; not read again", f.target, prev)
		} else {
			x.note(f.path, LinkRepeat, "the same file as %s (another name for it), which is read already; not read again", prev)
		}
		return false
	}
	if err == nil {
		x.paths[abs] = true
	}
	x.files[id] = f.path
	return true
}

func (x *expander) addAll(files []found) {
	for _, f := range files {
		if x.claim(f) {
			x.out = append(x.out, Input{Path: f.path, Size: f.info.Size()})
		}
	}
}

// walk adds the files under root in rotation order: first the tree itself, then what
// its links lead to, so that a file or folder is taken under its own name before any
// link to it. Files met twice are dropped (and noted) before rotation order is applied.
// n counts the files found, taken or not.
func (x *expander) walk(root string, rootInfo fs.FileInfo) (n int, err error) {
	type link struct {
		path      string
		ancestors []fileID // the folders above it, itself excluded
	}
	var files []found
	var links []link
	var walkDir func(dir string, ancestors []fileID) error
	walkDir = func(dir string, ancestors []fileID) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			t := e.Type()
			switch {
			case t&fs.ModeSymlink != 0:
				links = append(links, link{p, ancestors})
			case t.IsDir():
				info, err := e.Info()
				if err != nil {
					return err
				}
				id := idOf(p, info)
				if _, seen := x.dirs[id]; seen {
					continue // a folder mounted twice
				}
				x.dirs[id] = p
				if err := walkDir(p, append(ancestors[:len(ancestors):len(ancestors)], id)); err != nil {
					return err
				}
			case t.IsRegular():
				info, err := e.Info()
				if err != nil {
					return err
				}
				files = append(files, found{path: p, info: info})
			}
		}
		return nil
	}
	rootID := idOf(root, rootInfo)
	x.dirs[rootID] = root
	if err := walkDir(root, []fileID{rootID}); err != nil {
		return 0, err
	}
	// links met while walking what a link leads to are appended and followed in turn
	for i := 0; i < len(links); i++ {
		l := links[i]
		target, _ := os.Readlink(l.path)
		info, err := os.Stat(l.path)
		if err != nil {
			x.note(l.path, Unreadable, "a link to %s, which cannot be reached (%v); skipped", target, errors.Unwrap(err))
			continue
		}
		switch {
		case info.IsDir():
			id := idOf(l.path, info)
			if slices.Contains(l.ancestors, id) {
				x.note(l.path, LinkLoop, "a link to %s, a folder above it (a loop); not followed", target)
				continue
			}
			if prev, seen := x.dirs[id]; seen {
				x.note(l.path, LinkRepeat, "a link to %s, a folder read already as %s; not followed", target, prev)
				continue
			}
			x.dirs[id] = l.path
			if err := walkDir(l.path, append(l.ancestors[:len(l.ancestors):len(l.ancestors)], id)); err != nil {
				return 0, err
			}
		case info.Mode().IsRegular():
			files = append(files, found{path: l.path, info: info, target: target})
		}
	}
	var ins []Input
	for _, f := range files {
		if x.claim(f) {
			ins = append(ins, Input{Path: f.path, Size: f.info.Size()})
		}
	}
	SortRotated(ins)
	x.out = append(x.out, ins...)
	return len(files), nil
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

// resolved is path with every link resolved, or its absolute form when that fails.
func resolved(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		if abs, err := filepath.Abs(r); err == nil {
			return abs
		}
	}
	abs, _ := filepath.Abs(path)
	return abs
}
