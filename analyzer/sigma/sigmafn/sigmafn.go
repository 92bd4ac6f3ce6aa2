// Package sigmafn holds the CEL functions that Sigma rules translate to where CEL alone
// cannot say what Sigma means: a field path that crosses lists and dotted keys in a
// request or response body, a field name searched at any depth, keyword search over the
// whole event, CIDR ranges and date parts. analyzer's CEL environment declares them
// (analyzer/rules/README.md lists them), so any rule may call them; analyzer/sigma
// generates the calls.
//
// Every function is total: it never returns a CEL error, whatever the shape of its
// input, so that a translated `not` stays a negation (an error under `!` would make the
// whole rule fail instead of match). Walks are bounded in depth.
package sigmafn

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Deep is the path prefix of a field searched at any depth: "**.hostPath" finds every
// hostPath key in the values given.
const Deep = "**."

// maxDepth bounds every walk: Kubernetes objects nest a dozen levels; a hostile body
// nested deeper is simply not looked into below this.
const maxDepth = 100

// Library is Functions as one environment option.
func Library() cel.EnvOption { return cel.Lib(library{}) }

type library struct{}

func (library) CompileOptions() []cel.EnvOption     { return Functions() }
func (library) ProgramOptions() []cel.ProgramOption { return nil }

// Functions declares the helpers:
//
//	sigmaValues(root, path)     list: the values at path below root (lists crossed, keys with dots tried whole)
//	sigmaStrings(values)        list(string): the scalar values as strings (numbers as JSON writes them, booleans)
//	sigmaNumbers(values)        list(double): the numbers, and the strings that are numbers
//	sigmaNonNull(values)        bool: some value is not null
//	sigmaLeaves(values)         list(string): every scalar at any depth (keyword search)
//	sigmaCIDR(ip, cidr)         bool: ip is inside cidr (IPv4-mapped IPv6 addresses count as IPv4)
//	sigmaTimePart(values, part) list(int): minute, hour, day, week (ISO), month or year (UTC) of timestamps and RFC 3339 strings
func Functions() []cel.EnvOption {
	list := cel.ListType(cel.DynType)
	return []cel.EnvOption{
		cel.Function("sigmaValues", cel.Overload("sigmaValues_dyn_string", []*cel.Type{cel.DynType, cel.StringType}, list,
			cel.BinaryBinding(func(root, path ref.Val) ref.Val {
				p, _ := path.Value().(string)
				return types.DefaultTypeAdapter.NativeToValue(Values(root, p))
			}))),
		cel.Function("sigmaStrings", cel.Overload("sigmaStrings_dyn", []*cel.Type{cel.DynType}, cel.ListType(cel.StringType),
			cel.UnaryBinding(func(v ref.Val) ref.Val { return types.NewStringList(types.DefaultTypeAdapter, Strings(v)) }))),
		cel.Function("sigmaNumbers", cel.Overload("sigmaNumbers_dyn", []*cel.Type{cel.DynType}, cel.ListType(cel.DoubleType),
			cel.UnaryBinding(func(v ref.Val) ref.Val { return types.DefaultTypeAdapter.NativeToValue(Numbers(v)) }))),
		cel.Function("sigmaNonNull", cel.Overload("sigmaNonNull_dyn", []*cel.Type{cel.DynType}, cel.BoolType,
			cel.UnaryBinding(func(v ref.Val) ref.Val { return types.Bool(NonNull(v)) }))),
		cel.Function("sigmaLeaves", cel.Overload("sigmaLeaves_dyn", []*cel.Type{cel.DynType}, cel.ListType(cel.StringType),
			cel.UnaryBinding(func(v ref.Val) ref.Val { return types.NewStringList(types.DefaultTypeAdapter, Leaves(v)) }))),
		cel.Function("sigmaCIDR", cel.Overload("sigmaCIDR_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
			cel.BinaryBinding(func(ip, cidr ref.Val) ref.Val {
				a, _ := ip.Value().(string)
				c, _ := cidr.Value().(string)
				return types.Bool(InCIDR(a, c))
			}))),
		cel.Function("sigmaTimePart", cel.Overload("sigmaTimePart_dyn_string", []*cel.Type{cel.DynType, cel.StringType}, cel.ListType(cel.IntType),
			cel.BinaryBinding(func(v, part ref.Val) ref.Val {
				p, _ := part.Value().(string)
				return types.DefaultTypeAdapter.NativeToValue(TimeParts(v, p))
			}))),
	}
}

// native unwraps CEL values into the Go values they hold; Go values pass as they are.
// Maps and lists that CEL built itself (a list literal of variables) are walked through
// their traits.
func native(v any) any {
	if r, ok := v.(ref.Val); ok {
		switch x := r.Value().(type) {
		case map[string]any, map[string]string, []any, []string, string, bool, int64, uint64, float64, nil, time.Time:
			return x
		}
		switch r.Type() {
		case types.ListType:
			if l, ok := r.(traits.Lister); ok {
				n, _ := l.Size().(types.Int)
				out := make([]any, 0, int(n))
				for i := types.Int(0); i < n; i++ {
					out = append(out, native(l.Get(i)))
				}
				return out
			}
		case types.MapType:
			if m, ok := r.(traits.Mapper); ok {
				out := map[string]any{}
				it := m.Iterator()
				for it.HasNext() == types.True {
					k := it.Next()
					if ks, ok := k.Value().(string); ok {
						out[ks] = native(m.Get(k))
					}
				}
				return out
			}
		case types.TimestampType:
			if t, ok := r.Value().(time.Time); ok {
				return t
			}
		case types.NullType:
			return nil
		}
		return r.Value()
	}
	return v
}

// Values returns the values at path below root. A map is entered by a key: the next
// segment, or several segments joined by dots (annotation and label keys hold dots), each
// way that exists. A list is crossed: each element is followed. A leaf that is a list is
// returned as one value (its presence is what `exists` asks); the projections flatten it.
// A path that starts with Deep is tried from every map below root. An empty path
// is root itself.
func Values(root any, path string) []any {
	out := []any{}
	if deep, ok := strings.CutPrefix(path, Deep); ok {
		segs := strings.Split(deep, ".")
		walk(native(root), 0, func(n any) { out = resolve(n, segs, 0, out) })
		return out
	}
	if path == "" {
		return append(out, native(root))
	}
	return resolve(native(root), strings.Split(path, "."), 0, out)
}

func resolve(n any, segs []string, depth int, out []any) []any {
	if depth > maxDepth {
		return out
	}
	if len(segs) == 0 {
		return append(out, n)
	}
	switch x := native(n).(type) {
	case map[string]any:
		for i := len(segs); i >= 1; i-- {
			k := segs[0]
			if i > 1 {
				k = strings.Join(segs[:i], ".")
			}
			if v, ok := x[k]; ok {
				out = resolve(v, segs[i:], depth+1, out)
			}
		}
	case map[string]string:
		// values are strings: the rest of the path is one key
		if v, ok := x[strings.Join(segs, ".")]; ok {
			out = append(out, v)
		}
	case []any:
		for _, e := range x {
			out = resolve(e, segs, depth+1, out)
		}
	}
	return out
}

// walk calls fn on every map at any depth below n (n included). Lists are crossed, not
// offered: a path tried from a list is tried from its elements, which are offered.
func walk(n any, depth int, fn func(any)) {
	if depth > maxDepth {
		return
	}
	switch x := native(n).(type) {
	case map[string]any:
		fn(x)
		for _, v := range x {
			walk(v, depth+1, fn)
		}
	case map[string]string:
		fn(x)
	case []any:
		for _, v := range x {
			walk(v, depth+1, fn)
		}
	}
}

// scalar formats a scalar the way it reads in the event's JSON; ok is false for null,
// maps and lists.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case int:
		return strconv.Itoa(x), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), true
	}
	return "", false
}

// flat calls fn on each value, with lists (at any depth) flattened; maps are passed as
// they are.
func flat(v any, depth int, fn func(any)) {
	if depth > maxDepth {
		return
	}
	switch x := native(v).(type) {
	case []any:
		for _, e := range x {
			flat(e, depth+1, fn)
		}
	case []string:
		for _, e := range x {
			fn(e)
		}
	default:
		fn(x)
	}
}

// Strings returns the scalar values as strings, lists flattened; nulls and maps are left
// out.
func Strings(values any) []string {
	out := []string{}
	flat(values, 0, func(v any) {
		if s, ok := scalar(v); ok {
			out = append(out, s)
		}
	})
	return out
}

// Numbers returns the numeric values, and the strings that parse as numbers.
func Numbers(values any) []float64 {
	out := []float64{}
	flat(values, 0, func(v any) {
		switch x := v.(type) {
		case float64:
			out = append(out, x)
		case int64:
			out = append(out, float64(x))
		case uint64:
			out = append(out, float64(x))
		case int:
			out = append(out, float64(x))
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				out = append(out, f)
			}
		}
	})
	return out
}

// NonNull reports whether a value is present and not null (maps and lists count, even
// empty ones).
func NonNull(values any) bool {
	found := false
	switch x := native(values).(type) {
	case []any:
		for _, e := range x {
			if native(e) != nil {
				found = true
			}
		}
	case []string:
		found = len(x) > 0
	case nil:
	default:
		found = true
	}
	return found
}

// Leaves returns every scalar at any depth (map values, not keys), as strings.
func Leaves(values any) []string {
	out := []string{}
	var rec func(v any, depth int)
	rec = func(v any, depth int) {
		if depth > maxDepth {
			return
		}
		switch x := native(v).(type) {
		case map[string]any:
			for _, e := range x {
				rec(e, depth+1)
			}
		case map[string]string:
			for _, e := range x {
				out = append(out, e)
			}
		case []any:
			for _, e := range x {
				rec(e, depth+1)
			}
		case []string:
			out = append(out, x...)
		default:
			if s, ok := scalar(x); ok {
				out = append(out, s)
			}
		}
	}
	rec(values, 0)
	return out
}

// InCIDR reports whether ip lies in the network cidr. Either failing to parse is false.
func InCIDR(ip, cidr string) bool {
	p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return false
	}
	return p.Contains(a.WithZone("").Unmap()) || p.Contains(a.WithZone(""))
}

// TimeParts extracts part (minute, hour, day, week, month, year) in UTC from every
// timestamp, and every string that reads as RFC 3339, among values.
func TimeParts(values any, part string) []int64 {
	out := []int64{}
	flat(values, 0, func(v any) {
		var t time.Time
		switch x := v.(type) {
		case time.Time:
			t = x
		case string:
			var err error
			if t, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(x)); err != nil {
				return
			}
		default:
			return
		}
		t = t.UTC()
		switch part {
		case "minute":
			out = append(out, int64(t.Minute()))
		case "hour":
			out = append(out, int64(t.Hour()))
		case "day":
			out = append(out, int64(t.Day()))
		case "week":
			_, w := t.ISOWeek()
			out = append(out, int64(w))
		case "month":
			out = append(out, int64(t.Month()))
		case "year":
			out = append(out, int64(t.Year()))
		}
	})
	return out
}
