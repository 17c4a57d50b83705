package botapi

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// intParams are decoded to int64 when they hold an integer, the way tests compare them.
var intParams = map[string]bool{
	"chat_id": true, "from_chat_id": true, "message_id": true, "user_id": true,
	"offset": true, "limit": true, "timeout": true, "reply_to_message_id": true,
	"cache_time": true, "message_thread_id": true, "max_connections": true,
}

// boolParams are decoded to bool.
var boolParams = map[string]bool{
	"disable_notification": true, "protect_content": true, "show_alert": true,
	"allow_paid_broadcast": true, "drop_pending_updates": true, "disable_web_page_preview": true,
	"allow_sending_without_reply": true, "has_spoiler": true, "show_caption_above_media": true,
}

// ServeHTTP answers one Bot API call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/bot") {
		writeFailure(w, Failure{Code: 404, Description: "Not Found"})
		return
	}
	if !strings.HasPrefix(r.URL.Path, s.prefix) {
		writeFailure(w, Failure{Code: 401, Description: "Unauthorized"})
		return
	}
	method := r.URL.Path[len(s.prefix):]
	if method == "" || strings.Contains(method, "/") {
		writeFailure(w, Failure{Code: 404, Description: "Not Found"})
		return
	}
	params, err := decodeParams(r, s.record.Load())
	if err != nil {
		s.count(method)
		writeFailure(w, Failure{Code: 400, Description: "Bad Request: " + err.Error()})
		return
	}
	var chat int64
	hasChat := false
	if v, ok := params["chat_id"]; ok {
		if chat, hasChat = s.resolve(v); !hasChat {
			writeFailure(w, ChatNotFound())
			return
		}
	}
	req := Request{Method: method, Params: params, Time: time.Now(), Status: 200}
	fail := func(f Failure) {
		req.Status = f.Code
		s.stats.refused(f.Code)
		s.keep(req, chat)
		writeFailure(w, f)
	}

	if ra, ok := s.allow(method); !ok {
		fail(RetryAfter(ra))
		return
	}
	if hasChat && sendMethods[method] {
		if ra, ok := s.allowChat(chat, req.Time); !ok {
			fail(RetryAfter(ra))
			return
		}
	}
	if f, ok := s.takeFailure(method, chat, hasChat); ok {
		fail(f)
		return
	}
	if h := s.handler.Load(); h != nil {
		if resp := (*h)(req); resp != nil {
			req.Status = statusOf(resp)
			s.keep(req, chat)
			s.writeResponse(w, resp)
			return
		}
	}
	if hasChat && s.nBlocked.Load() > 0 && s.isBlocked(chat) && blockedMethod(method) {
		fail(Blocked())
		return
	}
	if method == "getUpdates" {
		s.keep(req, chat)
		s.getUpdates(w, r, params)
		return
	}
	result, f := s.answer(&req, chat, hasChat)
	if f != nil {
		fail(*f)
		return
	}
	s.keep(req, chat)
	writeResult(w, result)
}

// keep counts and records a request (unless recording is off). It runs after the
// request's effects and before the answer is written, so that a test that saw Count reach
// n (WaitFor) also sees what those requests did. getUpdates is kept on arrival, so that
// WaitFor can tell a long poll is waiting.
func (s *Server) keep(req Request, chat int64) {
	s.count(req.Method)
	if !s.record.Load() {
		return
	}
	req.seq = s.seq.Add(1)
	sh := s.shardOf(chat)
	sh.mu.Lock()
	sh.reqs = append(sh.reqs, req)
	sh.mu.Unlock()
}

func statusOf(resp *Response) int {
	switch {
	case resp.Raw != nil && resp.Status != 0:
		return resp.Status
	case resp.Raw == nil && resp.Failure != nil:
		return resp.Failure.Code
	}
	return 200
}

func (s *Server) writeResponse(w http.ResponseWriter, resp *Response) {
	switch {
	case resp.Raw != nil:
		w.WriteHeader(statusOf(resp))
		_, _ = w.Write(resp.Raw)
	case resp.Failure != nil:
		writeFailure(w, *resp.Failure)
	default:
		res := resp.Result
		if res == nil {
			res = true
		}
		writeResult(w, res)
	}
}

func writeResult(w http.ResponseWriter, result any) {
	b, err := json.Marshal(result)
	if err != nil {
		writeFailure(w, Failure{Code: 500, Description: "botapi: encode result: " + err.Error()})
		return
	}
	var buf bytes.Buffer
	buf.Grow(len(b) + 24)
	buf.WriteString(`{"ok":true,"result":`)
	buf.Write(b)
	buf.WriteByte('}')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

func writeFailure(w http.ResponseWriter, f Failure) {
	body := map[string]any{"ok": false, "error_code": f.Code, "description": f.Description}
	params := map[string]any{}
	if f.RetryAfter > 0 {
		params["retry_after"] = f.RetryAfter
	}
	if f.MigrateTo != 0 {
		params["migrate_to_chat_id"] = f.MigrateTo
	}
	if len(params) > 0 {
		body["parameters"] = params
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Code)
	_, _ = w.Write(b)
}

// decodeParams reads form-urlencoded, multipart or JSON bodies (and the query string).
//
// Values that look like JSON are parsed only when parseJSON (recording): count-only
// benchmarks need not pay for it.
func decodeParams(r *http.Request, parseJSON bool) (map[string]any, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	out := map[string]any{}
	switch ct {
	case "application/json":
		body, err := io.ReadAll(io.LimitReader(r.Body, 50<<20))
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(body)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				return nil, err
			}
			for k, v := range m {
				out[k] = normalizeJSON(k, v, parseJSON)
			}
		}
	case "multipart/form-data":
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return nil, err
		}
		for k, vs := range r.MultipartForm.Value {
			if len(vs) > 0 {
				out[k] = normalizeString(k, vs[0], parseJSON)
			}
		}
		for k, fs := range r.MultipartForm.File {
			if len(fs) > 0 {
				out[k] = "attach:" + fs[0].Filename
			}
		}
	default:
		body, err := io.ReadAll(io.LimitReader(r.Body, 50<<20))
		if err != nil {
			return nil, err
		}
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, vs := range vals {
			if len(vs) > 0 {
				out[k] = normalizeString(k, vs[0], parseJSON)
			}
		}
	}
	for k, vs := range r.URL.Query() {
		if _, ok := out[k]; !ok && len(vs) > 0 {
			out[k] = normalizeString(k, vs[0], parseJSON)
		}
	}
	return out, nil
}

func normalizeString(k, v string, parseJSON bool) any {
	if intParams[k] {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
		return v
	}
	if boolParams[k] {
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
		return v
	}
	if parseJSON && len(v) > 0 && (v[0] == '{' || v[0] == '[') {
		var x any
		if json.Unmarshal([]byte(v), &x) == nil {
			return x
		}
	}
	return v
}

func normalizeJSON(k string, v any, parseJSON bool) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	case string:
		return normalizeString(k, v, parseJSON)
	case map[string]any:
		for kk, vv := range v {
			v[kk] = plainJSON(vv)
		}
		return v
	case []any:
		for i, vv := range v {
			v[i] = plainJSON(vv)
		}
		return v
	}
	return v
}

// plainJSON turns nested json.Numbers into float64, as json.Unmarshal would, so nested
// objects look the same whichever body encoding carried them.
func plainJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, vv := range v {
			v[k] = plainJSON(vv)
		}
	case []any:
		for i, vv := range v {
			v[i] = plainJSON(vv)
		}
	}
	return v
}

// resolve maps a chat_id parameter to a numeric id; "@channel" names get a stable
// channel id of their own, so edits by numeric id find what was sent by name.
func (s *Server) resolve(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case float64:
		return int64(v), true
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, true
		}
		if !strings.HasPrefix(v, "@") || len(v) < 2 {
			return 0, false
		}
		s.namesMu.Lock()
		defer s.namesMu.Unlock()
		id, ok := s.names[v]
		if !ok {
			h := fnv.New32a()
			_, _ = h.Write([]byte(v))
			id = -1000000000000 - int64(h.Sum32())
			s.names[v] = id
			s.usernames[id] = v[1:]
		}
		return id, true
	}
	return 0, false
}

func (s *Server) usernameOf(id int64) string {
	if id > -1000000000000 {
		return ""
	}
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	return s.usernames[id]
}
