package telegram

import (
	"encoding/json"
	"fmt"
	"strconv"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// encodeParams turns Bot API parameters into the library's string form: strings as they
// are, numbers and bools formatted, everything else (reply_markup, link_preview_options,
// entities...) as JSON, which is how Telegram expects objects in a form body. Nil values
// are left out. This is also the path for fields newer than the library.
func encodeParams(in map[string]any) (tgbotapi.Params, error) {
	out := make(tgbotapi.Params, len(in))
	for k, v := range in {
		var s string
		switch v := v.(type) {
		case nil:
			continue
		case string:
			s = v
		case int:
			s = strconv.Itoa(v)
		case int64:
			s = strconv.FormatInt(v, 10)
		case int32:
			s = strconv.FormatInt(int64(v), 10)
		case uint64:
			s = strconv.FormatUint(v, 10)
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			s = strconv.FormatBool(v)
		case json.Number:
			s = v.String()
		case json.RawMessage:
			s = string(v)
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("encode parameter %s: %w", k, err)
			}
			s = string(b)
		}
		out[k] = s
	}
	return out, nil
}

// PrepareParams returns a copy of params with every object and list (reply_markup,
// link_preview_options, entities...) already JSON-encoded as json.RawMessage. Fan-out sends
// one rendered post to many chats: preparing it once and then only changing chat_id saves
// encoding the same objects for every reader.
func PrepareParams(params map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(params))
	for k, v := range params {
		switch v.(type) {
		case nil, string, int, int64, int32, uint64, float64, bool, json.Number, json.RawMessage:
			out[k] = v
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("encode parameter %s: %w", k, err)
			}
			out[k] = json.RawMessage(b)
		}
	}
	return out, nil
}
