package intake

import "strconv"

// Redis keys of the intake, all under the configured prefix. They keep the "bot:" part of
// the names they had when the intake was part of package bot, so that a deployment keeps
// its offset and its webhook claims across the upgrade.
//
//   - bot:{poll}:offset — the next getUpdates offset (last handled update_id + 1).
//   - bot:{poll}:done — SET of the update ids of the current batch already handled; cleared
//     in the same MULTI that moves the offset past the batch, so it never holds more than
//     one batch (hence the shared hash tag).
//   - bot:{poll}:lock — which running copy long-polls; the others wait (Telegram answers 409
//     to a second concurrent getUpdates).
//   - bot:upd:<update_id> — a webhook update already taken in, so Telegram's redelivery is
//     skipped; expires after Telegram's own 24-hour retention.

func keyPollOffset(prefix string) string { return prefix + "bot:{poll}:offset" }

func keyPollDone(prefix string) string { return prefix + "bot:{poll}:done" }

func keyPollLock(prefix string) string { return prefix + "bot:{poll}:lock" }

func keyUpdateSeen(prefix string, updateID int) string {
	return prefix + "bot:upd:" + strconv.Itoa(updateID)
}
