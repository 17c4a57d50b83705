package desk

// Redis keys of the desk, all under the configured prefix. The name keeps the "bot:" part it
// had when the desk was part of package bot, so that previews sent before an upgrade keep
// working. The audit trail is package audit's (audit:...).
//
//   - bot:pub:<token> — a pending /publish (a hash, requests.go): story, asking editor, chat,
//     control message, breaking flag and state (open, pushing, published, cancelled), who
//     moved it on and when; expires after requestTTL.

func keyRequest(prefix, token string) string { return prefix + "bot:pub:" + token }
