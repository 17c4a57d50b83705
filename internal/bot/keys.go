package bot

import "strconv"

// Redis keys of the bot, all under the configured prefix and "bot:".
//
// Update intake (intake.go, webhook.go):
//   - bot:poll:offset — the next getUpdates offset (last processed update_id + 1).
//   - bot:poll:lock — which running copy long-polls; the others wait (Telegram answers 409
//     to a second concurrent getUpdates).
//   - bot:upd:<update_id> — an update already taken in, so a redelivered one is skipped;
//     expires after Telegram's own 24-hour retention.

func keyPollOffset(prefix string) string { return prefix + "bot:poll:offset" }

func keyPollLock(prefix string) string { return prefix + "bot:poll:lock" }

func keyUpdateSeen(prefix string, updateID int) string {
	return prefix + "bot:upd:" + strconv.Itoa(updateID)
}
