// Package telegram is the bot's only door to the Telegram Bot API and the only importer of
// go-telegram-bot-api/v5. It adds what the library lacks: a context on every call, typed
// outcomes (outcome.go: not sent, in doubt, retry after, blocked, chat gone...), Bot API
// fields newer than the library (sent as plain parameters), and errors that never carry the
// bot token.
package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// DefaultAPIURL is Telegram's public Bot API server.
const DefaultAPIURL = "https://api.telegram.org"

// defaultCallTimeout bounds a call whose ctx has no deadline, so one stuck connection
// cannot stall a worker for the HTTP client's much longer (long-polling) timeout.
const defaultCallTimeout = 30 * time.Second

// Client calls the Bot API. It is safe for concurrent use.
type Client struct {
	token string
	log   *slog.Logger
	tmpl  tgbotapi.BotAPI // Token, endpoint and HTTP client; copied into each pooled caller
	pool  sync.Pool       // *caller

	health health
}

// health remembers whether Telegram answers the calls this client makes, so that readiness
// reports an outage from what the sends see instead of a getMe made a minute ago.
type health struct {
	mu           sync.Mutex
	failingSince time.Time // first call without an answer since the last answered one; zero: answering
	lastErr      error
}

func (h *health) record(err *Error) {
	noAnswer := err != nil && (err.Code == 0 || err.Code >= 500)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !noAnswer:
		h.failingSince, h.lastErr = time.Time{}, nil
	case h.failingSince.IsZero():
		h.failingSince, h.lastErr = time.Now(), err
	default:
		h.lastErr = err
	}
}

// Unanswered reports an error when every call for at least d got no answer from Telegram (it
// is down, or unreachable from here), and nil while it answers.
func (c *Client) Unanswered(d time.Duration) error {
	c.health.mu.Lock()
	defer c.health.mu.Unlock()
	if c.health.failingSince.IsZero() {
		return nil
	}
	if since := time.Since(c.health.failingSince); since >= d {
		return fmt.Errorf("no answer from Telegram for %s: %w", since.Round(time.Second), c.health.lastErr)
	}
	return nil
}

// New returns a client of the Bot API at apiURL (TELEGRAM_API_URL; empty means
// api.telegram.org). It does no network I/O: the library's constructors call getMe, this
// one does not. httpClient nil means NewHTTPClient().
func New(token, apiURL string, httpClient *http.Client, log *slog.Logger) *Client {
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if httpClient == nil {
		httpClient = NewHTTPClient()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{token: token, log: log}
	c.tmpl = tgbotapi.BotAPI{Token: token, Buffer: 100}
	// The library builds each URL with Sprintf: a percent-escape in the base URL must not
	// be read as a verb (it would scatter the token through the URL).
	c.tmpl.SetAPIEndpoint(strings.ReplaceAll(strings.TrimRight(apiURL, "/"), "%", "%%") + "/bot%s/%s")
	c.pool.New = func() any {
		cl := &caller{doer: ctxDoer{hc: httpClient}}
		cl.bot = c.tmpl
		cl.bot.Client = &cl.doer
		return cl
	}
	return c
}

// NewHTTPClient returns an HTTP client fit for the Bot API: bounded dial, TLS and
// response-header waits (long enough for long polling), and a large idle pool per host
// because fan-out sends thousands of requests per second to one host.
func NewHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute, // getUpdates holds the answer up to its timeout
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          2048,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
	}
	// No overall Timeout: every Client call carries a ctx deadline (its own or a default,
	// long-poll aware), and a Timeout would add a second timer and context per request.
	return &http.Client{Transport: tr}
}

// caller is a pooled copy of the library's BotAPI whose HTTP client attaches the call's
// ctx: tgbotapi v5.5.1 builds its requests with http.NewRequest, without a context.
type caller struct {
	bot  tgbotapi.BotAPI
	doer ctxDoer
}

type ctxDoer struct {
	hc     *http.Client
	ctx    context.Context
	status int  // HTTP status of the last answer, for answers that are not Bot API JSON
	wrote  bool // the request was written whole: Telegram may have acted on it
}

func (d *ctxDoer) Do(req *http.Request) (*http.Response, error) {
	// Whether the request left decides whether a failed call may be sent again (NotSent)
	// or must not (InDoubt): only the transport knows, so it is asked.
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			d.wrote = true
		}
	}}
	resp, err := d.hc.Do(req.WithContext(httptrace.WithClientTrace(d.ctx, trace)))
	if resp != nil {
		d.status = resp.StatusCode
		// The library closes the body once its JSON decoder has the object, before reading
		// EOF; net/http then drops the connection instead of reusing it. Draining on Close
		// keeps connections pooled, which matters at thousands of calls per second.
		resp.Body = &drainCloser{ReadCloser: resp.Body}
	}
	return resp, err
}

type drainCloser struct{ io.ReadCloser }

func (d *drainCloser) Close() error {
	_, _ = io.Copy(io.Discard, io.LimitReader(d.ReadCloser, 64<<10))
	return d.ReadCloser.Close()
}

// Call invokes a Bot API method and returns its raw result. params are Bot API parameters
// as Telegram names them; objects (reply_markup, link_preview_options...) are JSON-encoded.
func (c *Client) Call(ctx context.Context, method string, params map[string]any) (json.RawMessage, error) {
	p, err := encodeParams(params)
	if err != nil {
		return nil, &Error{Method: method, Description: err.Error(), Outcome: Refused, cause: err}
	}
	return c.call(ctx, method, p, defaultCallTimeout)
}

func (c *Client) call(ctx context.Context, method string, p tgbotapi.Params, timeout time.Duration) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, networkError(method, err, c.token, false)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cl := c.pool.Get().(*caller)
	cl.doer.ctx = ctx
	cl.doer.status, cl.doer.wrote = 0, false
	resp, err := cl.bot.MakeRequest(method, p)
	status, wrote := cl.doer.status, cl.doer.wrote
	cl.doer.ctx = nil
	c.pool.Put(cl)

	if err == nil {
		c.health.record(nil)
		return resp.Result, nil
	}
	e := c.classify(method, resp, err, status, wrote)
	if e.Code != 0 || ctx.Err() == nil {
		// A caller giving up says nothing about Telegram.
		c.health.record(e)
	}
	return nil, e
}

func (c *Client) classify(method string, resp *tgbotapi.APIResponse, err error, status int, wrote bool) *Error {
	var tgErr *tgbotapi.Error
	if errors.As(err, &tgErr) && resp != nil {
		return apiError(method, resp.ErrorCode, resp.Description, tgErr.RetryAfter, tgErr.MigrateToChatID)
	}
	if status != 0 {
		// An answer came but it was not Bot API JSON (a proxy's error page, say).
		e := apiError(method, status, fmt.Sprintf("unreadable answer (HTTP %d): %v", status, redactErr(err, c.token)), 0, 0)
		if status < 400 {
			// A 200 whose body is cut or garbled: Telegram may well have sent the message.
			e.Outcome = InDoubt
		}
		return e
	}
	return networkError(method, err, c.token, wrote)
}

// Send invokes a method that answers a Message (sendMessage, sendPhoto, editMessageText,
// editMessageCaption, editMessageReplyMarkup, copyMessage — whose MessageId decodes into
// Message.MessageID). Edits of inline messages answer true; the Message is then zero.
func (c *Client) Send(ctx context.Context, method string, params map[string]any) (Message, error) {
	raw, err := c.Call(ctx, method, params)
	if err != nil {
		return Message{}, err
	}
	var m Message
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &m); err != nil {
			// It was sent; only its answer is unreadable.
			return Message{}, &Error{Method: method, Description: "decode message: " + err.Error(), Outcome: InDoubt, cause: err}
		}
	}
	return m, nil
}

// decode unmarshals a result, naming the method in the error.
func decode(method string, raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return &Error{Method: method, Description: "decode result: " + err.Error(), Outcome: InDoubt, cause: err}
	}
	return nil
}
