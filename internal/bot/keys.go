package bot

import "strconv"

// Redis keys of the reader conversation, all under the configured prefix and "bot:". (The
// update intake keeps its keys under "bot:" too, in package intake; the desk's publish
// requests are package desk's.)
//
//   - bot:flood:{<chat>} — updates a chat sent in the current flood window (expires with it).
//   - bot:flood:{<chat>}:note — set while a chat is being slowed, so "please wait" is sent
//     once per burst, not once per message. Same hash tag as the counter: one Lua script.
//   - bot:gadmin:<chat>:<user> — "1"/"0": whether a user administers a group, cached briefly.

func keyFlood(prefix string, chatID int64) string {
	return prefix + "bot:flood:{" + strconv.FormatInt(chatID, 10) + "}"
}

func keyFloodNote(prefix string, chatID int64) string { return keyFlood(prefix, chatID) + ":note" }

func keyGroupAdmin(prefix string, chatID, userID int64) string {
	return prefix + "bot:gadmin:" + strconv.FormatInt(chatID, 10) + ":" + strconv.FormatInt(userID, 10)
}
