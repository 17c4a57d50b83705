package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"newsbot/internal/article"
	"newsbot/internal/config"
	"newsbot/internal/locale"
	"newsbot/internal/post"
)

// previewVars are the variables preview uses. A mistake elsewhere (REDIS_URL, WEBHOOK_URL...)
// must not stop an editor from previewing a story.
var previewVars = []string{"LANGUAGES", "DEFAULT_LANGUAGE", "TOPICS", "CHANNELS", "TIMEZONE"}

// preview renders each article file as the Bot API request newsbot would send to the story
// language's channel: one JSON object per line on stdout. An invalid file gets one line per
// problem on stderr, "FILE: FIELD: reason", and exit status 1; the other files still render.
func preview(args []string, lookupEnv config.Lookup, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("preview", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lang := fs.String("lang", "", "language of the labels (buttons, \"Photo:\", hashtags); default: the story's language")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: newsbot preview [-lang LL] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	files := fs.Args()
	if len(files) == 0 {
		fs.Usage()
		return &exitError{code: 2, msg: "preview: no article files given"}
	}

	cfg, err := loadConfig(lookupEnv)
	if err != nil {
		if err = onlyVars(err, previewVars); err != nil {
			return err
		}
	}
	if *lang != "" && !slices.Contains(cfg.Languages, *lang) {
		return &exitError{code: 2, msg: fmt.Sprintf("preview: -lang %q is not one of LANGUAGES (%s)", *lang, strings.Join(cfg.Languages, ","))}
	}
	bundle, err := locale.Load()
	if err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	renderer := post.NewRenderer(bundle, cfg.Timezone)
	rules := cfg.ArticleRules()

	failed := 0
	for _, name := range files {
		p, err := previewFile(renderer, rules, cfg, name, *lang)
		if err != nil {
			failed++
			for _, e := range flatten(err) {
				fmt.Fprintf(stderr, "%s: %v\n", name, e)
			}
			continue
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		// Editors read the HTML: keep <b> as written rather than \u003cb\u003e.
		enc.SetEscapeHTML(false)
		if err := enc.Encode(p); err != nil {
			return fmt.Errorf("preview: encode %s: %w", name, err)
		}
		if _, err := stdout.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("preview: write: %w", err)
		}
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("preview: %d of %d files invalid", failed, len(files))}
	}
	return nil
}

func previewFile(r *post.Renderer, rules article.Rules, cfg config.Config, name, lang string) (post.Post, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return post.Post{}, &article.FieldError{Field: "file", Reason: readReason(err)}
	}
	a, err := article.Parse(data, rules)
	if err != nil {
		return post.Post{}, err
	}
	if lang == "" {
		lang = a.Lang
	}
	chat := ""
	if ch, ok := cfg.Channel(a.Lang); ok {
		chat = ch
	}
	return r.Render(a, lang, chat)
}

func readReason(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	// The line starts with the file's name already: "is a directory", not "read FILE: is a
	// directory".
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// flatten lists the errors inside errors.Join trees, one per problem.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// onlyVars keeps the configuration problems of the given variables (and any problem that is
// not about a variable, such as an unreadable .env).
func onlyVars(err error, vars []string) error {
	var keep []error
	for _, e := range flatten(err) {
		var ce *config.Error
		if errors.As(e, &ce) && !slices.Contains(vars, ce.Var) {
			continue
		}
		keep = append(keep, e)
	}
	return errors.Join(keep...)
}
