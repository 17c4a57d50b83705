// Package article holds the Article value type of the publisher's article store: how an article
// file or stream entry is decoded and what makes it valid. It does no I/O.
package article

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Article is one story as the publisher's CMS writes it. Text fields are plain text: anything
// that looks like HTML is shown as written.
type Article struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Lang        string    `json:"lang"`
	Title       string    `json:"title"`
	PublishedAt time.Time `json:"published_at"`
	Lead        string    `json:"lead,omitempty"`
	Body        string    `json:"body,omitempty"`
	Topics      []string  `json:"topics,omitempty"`
	ImageURL    string    `json:"image_url,omitempty"`
	ImageCredit string    `json:"image_credit,omitempty"`
	Author      string    `json:"author,omitempty"`
	Source      string    `json:"source,omitempty"`
	Section     string    `json:"section,omitempty"`
	Breaking    bool      `json:"breaking,omitempty"`
	Retracted   bool      `json:"retracted,omitempty"`
}

// Limits on field sizes: generous for real stories, small enough that a runaway CMS export
// cannot make one article cost megabytes in Redis.
const (
	MaxIDLen    = 200
	MaxURLLen   = 2048
	MaxTitleLen = 1000
	MaxTextLen  = 200_000
	MaxTopics   = 20
)

// MaxSize is the largest article file or stream entry newsbot reads, in bytes (4 MiB): the
// fields above fit in well under 1 MiB, so anything larger is padding or a mistake. A larger
// file or entry is refused by its size, without being read.
const MaxSize = 4 << 20

// CheckSize refuses an article file or stream entry of size bytes if it is over MaxSize;
// the sources call it before reading one.
func CheckSize(size int64) error {
	if size > MaxSize {
		return &FieldError{Field: "article", Reason: fmt.Sprintf("%d bytes, over the %d MiB cap", size, MaxSize>>20)}
	}
	return nil
}

// published_at must lie between 1990-01-01 and a day past now (a clock a little fast, a time
// zone written wrong). Dates outside are typos ("0001", "2062") that would show as
// "1 January 1" or sit atop /latest for good.
const (
	earliestYear = 1990
	ahead        = 24 * time.Hour
)

// FieldError is a problem with one field. Its text is "FIELD: reason".
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Rules are what the deployment accepts: the configured languages and topic slugs.
type Rules struct {
	Languages []string
	Topics    []string
	// Now is the clock published_at is checked against (at most a day ahead); nil: time.Now.
	Now func() time.Time
}

func (r Rules) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Parse decodes one article, strips bidi controls from its text (Clean) and validates it
// against the rules. The error, when not nil, is a *FieldError (or several joined with
// errors.Join) naming the field. Every problem is reported at once, wrong types and invalid
// values alike, so an editor fixes a file in one pass; only a file that is not a JSON object
// at all stops at that.
func Parse(data []byte, rules Rules) (Article, error) {
	if err := CheckSize(int64(len(data))); err != nil {
		return Article{}, err
	}
	a, errs, whole := decode(data)
	if whole != nil {
		return Article{}, whole
	}
	bad := map[string]bool{}
	for _, e := range errs {
		bad[e.(*FieldError).Field] = true
	}
	if err := rules.Validate(a); err != nil {
		// A field that could not be decoded is reported once, for its type, not once more
		// as "required".
		for _, e := range unjoin(err) {
			if fe, ok := e.(*FieldError); !ok || !bad[fe.Field] {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		sortByField(errs)
		return Article{}, errors.Join(errs...)
	}
	// After validation, so that a title of bidi controls alone is reported as one with no
	// visible character, not as missing.
	return a.Clean(), nil
}

// Decode decodes one article object strictly: wrong types, a second value after the object
// and invalid UTF-8 are errors, each field's problem reported. Fields newsbot does not use (a
// CMS may add views, tags...) are ignored so that a richer export still works.
func Decode(data []byte) (Article, error) {
	a, errs, whole := decode(data)
	if whole != nil {
		return Article{}, whole
	}
	if len(errs) > 0 {
		return Article{}, errors.Join(errs...)
	}
	return a, nil
}

// decode returns what could be decoded, the problems of single fields (each a *FieldError),
// and the problem that makes the whole input unusable, if any.
func decode(data []byte) (Article, []error, error) {
	var a Article
	if !utf8.Valid(data) {
		return a, nil, &FieldError{Field: "article", Reason: "not valid UTF-8"}
	}
	// Notepad and other Windows editors start UTF-8 files with a byte order mark. JSON does
	// not allow one, but it carries no meaning: refusing the file would only puzzle editors.
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&fields); err != nil {
		return a, nil, decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return a, nil, &FieldError{Field: "article", Reason: "unexpected data after the JSON object"}
	}
	if fields == nil {
		return a, nil, &FieldError{Field: "article", Reason: "must be a JSON object, not null"}
	}

	var published any
	targets := []struct {
		name string
		dst  any
	}{
		{"id", &a.ID}, {"url", &a.URL}, {"lang", &a.Lang}, {"title", &a.Title},
		{"published_at", &published}, {"lead", &a.Lead}, {"body", &a.Body}, {"topics", &a.Topics},
		{"image_url", &a.ImageURL}, {"image_credit", &a.ImageCredit}, {"author", &a.Author},
		{"source", &a.Source}, {"section", &a.Section}, {"breaking", &a.Breaking}, {"retracted", &a.Retracted},
	}
	var errs []error
	for _, t := range targets {
		raw, ok := lookup(fields, t.name)
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, t.dst); err != nil {
			errs = append(errs, fieldDecodeError(t.name, err))
		}
	}
	switch v := published.(type) {
	case nil:
	case string:
		if v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				errs = append(errs, &FieldError{Field: "published_at", Reason: fmt.Sprintf("%q is not an RFC 3339 time", v)})
			}
			a.PublishedAt = t
		}
	default:
		errs = append(errs, &FieldError{Field: "published_at", Reason: "must be an RFC 3339 string"})
	}
	return a, errs, nil
}

// lookup finds a field by its name, or, as encoding/json does for structs, by a name that
// differs only in case when the exact one is absent.
func lookup(fields map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if raw, ok := fields[name]; ok {
		return raw, true
	}
	for k, raw := range fields {
		if strings.EqualFold(k, name) {
			return raw, true
		}
	}
	return nil, false
}

func fieldDecodeError(field string, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return &FieldError{Field: field, Reason: fmt.Sprintf("must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
	}
	return &FieldError{Field: field, Reason: err.Error()}
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		// The top level is an array, a string, a number...: not one article.
		return &FieldError{Field: "article", Reason: "must be a JSON object, not " + typeErr.Value}
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return &FieldError{Field: "article", Reason: fmt.Sprintf("invalid JSON at byte %d: %v", syntaxErr.Offset, err)}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &FieldError{Field: "article", Reason: "incomplete JSON"}
	}
	return &FieldError{Field: "article", Reason: err.Error()}
}

// unjoin lists the errors inside an errors.Join.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct":
		return "an object"
	default:
		return goKind
	}
}

// Validate reports every problem of the article at once, each as a *FieldError.
func (r Rules) Validate(a Article) error {
	var errs []error
	add := func(field, reason string) { errs = append(errs, &FieldError{Field: field, Reason: reason}) }

	switch {
	case strings.TrimSpace(a.ID) == "":
		add("id", "required")
	case len(a.ID) > MaxIDLen:
		add("id", fmt.Sprintf("longer than %d bytes", MaxIDLen))
	case strings.ContainsFunc(a.ID, isControl):
		add("id", "contains control characters")
	}
	if a.URL == "" {
		add("url", "required")
	} else if err := checkURL(a.URL); err != nil {
		add("url", err.Error())
	}
	switch {
	case a.Lang == "":
		add("lang", "required")
	case !slices.Contains(r.Languages, a.Lang):
		add("lang", fmt.Sprintf("%q is not one of LANGUAGES (%s)", a.Lang, strings.Join(r.Languages, ",")))
	}
	switch {
	case !strings.ContainsFunc(a.Title, func(c rune) bool { return !unicode.IsSpace(c) && !unicode.IsControl(c) }):
		add("title", "required")
	case !strings.ContainsFunc(a.Title, visible):
		add("title", "has no visible character")
	case utf8.RuneCountInString(a.Title) > MaxTitleLen:
		add("title", fmt.Sprintf("longer than %d characters", MaxTitleLen))
	}
	switch {
	case a.PublishedAt.IsZero():
		add("published_at", "required (RFC 3339)")
	case a.PublishedAt.UTC().Year() < earliestYear:
		add("published_at", fmt.Sprintf("%s is before %d-01-01", a.PublishedAt.Format(time.RFC3339), earliestYear))
	case a.PublishedAt.After(r.now().Add(ahead)):
		add("published_at", fmt.Sprintf("%s is more than a day ahead of now", a.PublishedAt.Format(time.RFC3339)))
	}
	if len(a.Lead) > MaxTextLen {
		add("lead", fmt.Sprintf("longer than %d bytes", MaxTextLen))
	}
	if len(a.Body) > MaxTextLen {
		add("body", fmt.Sprintf("longer than %d bytes", MaxTextLen))
	}
	if len(a.Topics) > MaxTopics {
		add("topics", fmt.Sprintf("more than %d topics", MaxTopics))
	}
	for i, t := range a.Topics {
		switch {
		case !slices.Contains(r.Topics, t):
			add("topics", fmt.Sprintf("%q is not one of TOPICS (%s)", t, strings.Join(r.Topics, ",")))
		case slices.Contains(a.Topics[:i], t):
			add("topics", fmt.Sprintf("%q is listed twice", t))
		}
	}
	if a.ImageURL != "" {
		if err := checkURL(a.ImageURL); err != nil {
			add("image_url", err.Error())
		}
	}
	for field, v := range map[string]string{"image_credit": a.ImageCredit, "author": a.Author, "source": a.Source, "section": a.Section} {
		if utf8.RuneCountInString(v) > MaxTitleLen {
			add(field, fmt.Sprintf("longer than %d characters", MaxTitleLen))
		}
	}
	sortByField(errs)
	return errors.Join(errs...)
}

func sortByField(errs []error) {
	slices.SortStableFunc(errs, func(x, y error) int {
		return strings.Compare(fieldOrder(x), fieldOrder(y))
	})
}

// fieldOrder keeps reports in the order of the article format, so the same file gives the
// same message every time.
func fieldOrder(err error) string {
	order := []string{"id", "url", "lang", "title", "published_at", "lead", "body", "topics", "image_url", "image_credit", "author", "source", "section", "breaking", "retracted"}
	var fe *FieldError
	if errors.As(err, &fe) {
		if i := slices.Index(order, fe.Field); i >= 0 {
			return fmt.Sprintf("%02d", i)
		}
	}
	return "99"
}

// hostProfile checks host names as a resolver would, with DNS lengths (no empty labels as in
// "a..b"); underscores are allowed, as browsers allow them.
var hostProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true), idna.StrictDomainName(false))

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// visible reports whether a reader can see r: a title of spaces, zero-width characters and
// bidi controls would render as a blank bold line.
func visible(r rune) bool {
	switch {
	case unicode.IsSpace(r), unicode.IsControl(r), unicode.Is(unicode.Cf, r), // zero-width, bidi, BOM, soft hyphen
		unicode.Is(unicode.Variation_Selector, r), r == utf8.RuneError:
		return false
	}
	switch r {
	case '\u115F', '\u1160', '\u3164', '\uFFA0', '\u2800': // Hangul fillers, blank braille: letters that show nothing
		return false
	}
	return true
}

// isBidiControl: the embedding, override and isolate controls (U+202A–U+202E,
// U+2066–U+2069). They reorder what follows them, in the post and in the share text, so a
// title can be made to read backwards or a link to look like another.
func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

func stripBidi(s string) string {
	if !strings.ContainsFunc(s, isBidiControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isBidiControl(r) {
			return -1
		}
		return r
	}, s)
}

// Clean returns the article with the bidi embedding, override and isolate controls removed
// from every text field (title, lead, body, image_credit, author, source, section). Parse
// does it; a source that builds articles itself (a feed) calls it before validating.
func (a Article) Clean() Article {
	for _, f := range []*string{&a.Title, &a.Lead, &a.Body, &a.ImageCredit, &a.Author, &a.Source, &a.Section} {
		*f = stripBidi(*f)
	}
	return a
}

func checkURL(raw string) error {
	if len(raw) > MaxURLLen {
		return fmt.Errorf("longer than %d bytes", MaxURLLen)
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return isControl(r) || r == ' ' }) {
		return errors.New("contains spaces or control characters")
	}
	// The reasons below are logged: none may echo a URL that carries credentials.
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			return errors.New("not a valid URL")
		}
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.User != nil {
		return errors.New("has a user name or password in it (user:password@host)")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if net.ParseIP(host) == nil {
		// Telegram refuses buttons and photos whose host is not a domain name; an IDN host
		// (новости.қаз) is fine, it is sent as punycode.
		if _, err := hostProfile.ToASCII(host); err != nil {
			return fmt.Errorf("%q: host %q is not a valid domain name", raw, host)
		}
	}
	return nil
}

// Hash is a digest of everything a reader sees of the article. The same id with another hash
// is a correction.
func (a Article) Hash() string {
	// The same instant written with another offset (Z or +06:00) is not a correction.
	a.PublishedAt = a.PublishedAt.UTC()
	b, err := json.Marshal(a)
	if err != nil {
		// Marshalling a struct of strings, bools and a time cannot fail.
		panic(fmt.Sprintf("article: hash: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
