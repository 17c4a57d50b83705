// Package intake takes Telegram updates in — by long polling (Poller) or by webhook
// (NewWebhook) — and hands them to a Handler through one Dispatcher: concurrently across
// chats, in order within a chat, neither lost nor repeated across restarts. A handler that
// panics is recovered here, in the Dispatcher, and nowhere else: counted, logged once with
// its stack, and the next update is handled.
package intake

// How the intake keeps "neither lost nor repeated" across restarts.
//
// Telegram forgets every update below the offset of the last getUpdates call, so the poller
// must not ask for the next batch before the current one is safely handled. It therefore
// works batch by batch: it takes a batch, skips the updates of it already handled (the
// bot:{poll}:done set), hands the rest to the Dispatcher (concurrently across chats, in
// order within a chat), adds each to the done set as its handler returns, waits until all
// have, and only then, in one MULTI, stores offset = last update_id + 1 and clears the done
// set; then it asks for more.
//
//   - Dies before the batch is done: the stored offset is the old one and Telegram was not
//     told otherwise, so the batch comes again; the updates already handled are skipped.
//     Nothing is lost.
//   - Dies after the MULTI but before the next getUpdates: the restart asks from the stored
//     offset, which confirms the batch to Telegram. Nothing is repeated.
//   - Dies between a handler returning and its id reaching the done set: that one update
//     is handled a second time. This window (one Redis write) is the only repeat left;
//     closing it would need handlers to commit their effects and the mark atomically.
//   - A handler that panics counts as handled, so a poisonous update cannot loop. Updates
//     still queued when the Dispatcher's shutdown grace runs out were never started: they
//     are not marked and come again.
//
// Webhook updates are claimed (SET NX bot:upd:<id>, 25h) before they are queued, because
// Telegram retries a webhook delivery it thinks failed while the first may still be queued.
// Once answered 200 an update is Telegram's no more: one queued when the process dies is
// lost, which is why the Dispatcher drains its queues for a grace period at shutdown.

// DefaultAllowedUpdates are the update kinds the bot asks Telegram for.
func DefaultAllowedUpdates() []string {
	return []string{"message", "callback_query", "my_chat_member"}
}
