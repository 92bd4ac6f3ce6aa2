package report

import (
	"reflect"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// redact passes every string of the document through the redactor: the one choke point
// holds for whatever a case or a saved report held (writers also write through
// redact.Writer, which cannot see a secret split across an HTML or JSON escape).
func (r *Report) redact() { redactValue(reflect.ValueOf(r).Elem()) }

func redactValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			if s := v.String(); s != "" {
				if out := redact.String(s); out != s {
					v.SetString(out)
				}
			}
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			redactValue(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				redactValue(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			redactValue(v.Index(i))
		}
	}
}
