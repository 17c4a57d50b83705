package botapi

import (
	"reflect"
	"strconv"
)

// cloneParams deep-copies params so callers may not change what the server holds.
func cloneParams(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneParams(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = cloneValue(x)
		}
		return out
	}
	return v
}

func equalJSON(a, b map[string]any) bool { return reflect.DeepEqual(a, b) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
