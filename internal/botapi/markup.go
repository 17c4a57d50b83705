package botapi

// checkKeyboard refuses an inline keyboard button with callback_data outside 1–64 bytes.
func checkKeyboard(p map[string]any) string {
	rm, ok := p["reply_markup"].(map[string]any)
	if !ok {
		return ""
	}
	rows, _ := rm["inline_keyboard"].([]any)
	for _, row := range rows {
		buttons, _ := row.([]any)
		for _, b := range buttons {
			m, _ := b.(map[string]any)
			if d, ok := m["callback_data"].(string); ok && (len(d) == 0 || len(d) > 64) {
				return "Bad Request: BUTTON_DATA_INVALID"
			}
		}
	}
	return ""
}
