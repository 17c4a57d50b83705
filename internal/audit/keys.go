package audit

// Redis keys of the audit trail, all under the configured prefix and "audit:":
//   - audit:log — LIST of entries (JSON), newest first, trimmed to the newest Cap.
//   - audit:story:<article id> — the newest entry of one story (JSON), so /publish can say
//     "already pushed by X at T" without reading the whole log; it expires with delivery's
//     ledger (30 days), after which a re-push would reach everyone again anyway.

func keyLog(prefix string) string { return prefix + "audit:log" }

func keyStory(prefix, articleID string) string { return prefix + "audit:story:" + articleID }
