package redact

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutputPathsAreRedacted holds the choke point in place. Product code (every
// non-test Go file of the module) may not:
//   - touch os.Stdout or os.Stderr, except cmd/kubesleuth/main.go, which hands them to
//     run(), where they are wrapped in a redacting Writer;
//   - print with fmt.Print*, print/println or the standard log package (they write to
//     the process streams behind the wrapper's back);
//   - reach the stream under a redacting Writer (Underlying, terminalOf) without a
//     "redact:" comment saying why;
//   - create or open a file for writing (os.Create, os.OpenFile, os.WriteFile) unless the
//     call carries a "redact:" comment saying why what it writes is redacted (a store of
//     redacted events, a stream through NewWriter, generated test data, a lock file).
//
// A new output path therefore fails this test until its author has routed it through
// the redactor, or said in the code why it needs not.
func TestOutputPathsAreRedacted(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from %s: %v", root, err)
	}
	// product code: the module's packages the kubesleuth binary links (test harnesses
	// such as internal/realcluster are not shipped, and write what tests need)
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{.Dir}}{{end}}", "github.com/kubesleuth/kubesleuth/cmd/kubesleuth").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var problems []string
	files, pkgs := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, dir, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(path, "github.com/kubesleuth/kubesleuth") {
			continue
		}
		pkgs++
		matches, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range matches {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			rel := strings.TrimPrefix(path, "github.com/kubesleuth/kubesleuth")
			rel = strings.TrimPrefix(rel+"/"+filepath.Base(f), "/")
			files++
			problems = append(problems, checkFile(t, f, rel)...)
		}
	}
	if files < 50 || pkgs < 10 {
		t.Fatalf("only %d Go files in %d packages found: the walk is wrong", files, pkgs)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func checkFile(t *testing.T, path, rel string) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	// the lines that carry a "redact:" justification (the call's line or the one above)
	justified := map[int]bool{}
	for _, cg := range f.Comments {
		if strings.Contains(cg.Text(), "redact:") {
			// the comment's lines and the line after it
			for l := fset.Position(cg.Pos()).Line; l <= fset.Position(cg.End()).Line+1; l++ {
				justified[l] = true
			}
		}
	}
	imports := map[string]string{} // local name -> path
	for _, im := range f.Imports {
		p := strings.Trim(im.Path.Value, `"`)
		name := p[strings.LastIndex(p, "/")+1:]
		if im.Name != nil {
			name = im.Name.Name
		}
		imports[name] = p
	}
	var out []string
	report := func(n ast.Node, what string) {
		pos := fset.Position(n.Pos())
		out = append(out, rel+":"+itoa(pos.Line)+": "+what)
	}
	// os.OpenFile calls whose flags name no write flag (a read, e.g. of a FIFO)
	readOnly := map[*ast.SelectorExpr]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		c, ok := n.(*ast.CallExpr)
		if !ok || len(c.Args) < 2 {
			return true
		}
		if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "OpenFile" {
			writes := false
			ast.Inspect(c.Args[1], func(m ast.Node) bool {
				if id, ok := m.(*ast.Ident); ok {
					switch id.Name {
					case "O_WRONLY", "O_RDWR", "O_CREATE", "O_APPEND", "O_TRUNC":
						writes = true
					}
				}
				return true
			})
			readOnly[sel] = !writes
		}
		return true
	})
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.SelectorExpr:
			id, ok := x.X.(*ast.Ident)
			if !ok {
				return true
			}
			pkg := imports[id.Name]
			switch {
			case pkg == "os" && (x.Sel.Name == "Stdout" || x.Sel.Name == "Stderr") && rel != "cmd/kubesleuth/main.go":
				report(x, "os."+x.Sel.Name+" used directly: write to the command's stdio (wrapped in redact.Writer by run)")
			case pkg == "fmt" && strings.HasPrefix(x.Sel.Name, "Print"):
				report(x, "fmt."+x.Sel.Name+" writes to stdout behind the redactor: use fmt.Fprint* on the command's stdio")
			case x.Sel.Name == "Underlying":
				// the stream under a redacting Writer: a way around it
				if !justified[fset.Position(x.Pos()).Line] && !isDecl(f, x) {
					report(x, x.Sel.Name+" reaches the stream under the redactor without a \"redact:\" comment saying why")
				}
			case pkg == "log":
				report(x, "the standard log package writes to stderr behind the redactor")
			case pkg == "os" && (x.Sel.Name == "Create" || x.Sel.Name == "OpenFile" || x.Sel.Name == "WriteFile" || x.Sel.Name == "CreateTemp"):
				if x.Sel.Name == "OpenFile" && readOnly[x] {
					return true
				}
				if !justified[fset.Position(x.Pos()).Line] {
					report(x, "os."+x.Sel.Name+" without a \"redact:\" comment: write through redact.NewWriter, or say why the content is redacted")
				}
			}
		case *ast.CallExpr:
			if id, ok := x.Fun.(*ast.Ident); ok && (id.Name == "print" || id.Name == "println") && id.Obj == nil {
				report(x, id.Name+" writes to stderr behind the redactor")
			}
			if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "terminalOf" && !justified[fset.Position(x.Pos()).Line] {
				report(x, "terminalOf reaches the stream under the redactor without a \"redact:\" comment saying why")
			}
		}
		return true
	})
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// isDecl: x is part of the declaration of the function it names (not a call).
func isDecl(f *ast.File, x *ast.SelectorExpr) bool {
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil && fd.Body.Pos() <= x.Pos() && x.Pos() < fd.Body.End() && fd.Name.Name == "terminalOf" {
			return true
		}
	}
	return false
}
