// Package locales embeds the message files of every language newsbot speaks, so the binary
// carries its translations and a deployment cannot run with a half-copied locales directory.
//
// Files are named <domain>.<lang>.toml (post.kk.toml, bot.ru.toml, admin.en.toml): the domain
// says which package owns the strings, the language is what go-i18n reads from the name.
// internal/locale loads every file; its tests fail when a key is missing or empty in one
// language, or when placeholders or plural forms differ between languages.
package locales

import "embed"

// FS holds every *.toml file of this directory.
//
//go:embed *.toml
var FS embed.FS
