package source

import (
	"errors"
	"strings"

	"newsbot/internal/article"
)

// describe splits a parse/validation error into the field(s) and reason(s) for one log line:
// field "url,lang", reason "url: required; lang: \"de\" is not one of LANGUAGES (kk,ru,en)".
func describe(err error) (field, reason string) {
	var fields, reasons []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *article.FieldError
		if errors.As(e, &fe) {
			fields = append(fields, fe.Field)
			reasons = append(reasons, fe.Error())
			return
		}
		fields = append(fields, "article")
		reasons = append(reasons, e.Error())
	}
	walk(err)
	return strings.Join(fields, ","), strings.Join(reasons, "; ")
}
