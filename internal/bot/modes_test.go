package bot

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"newsbot/internal/schedule"
	"newsbot/internal/subscriber"
	"newsbot/internal/testkit"
)

// digestLog stands in for delivery's catch-up: it records the readers it was given.
type digestLog struct {
	mu      sync.Mutex
	readers []subscriber.Reader
	err     error
}

func (d *digestLog) CatchUp(_ context.Context, before subscriber.Reader) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.readers = append(d.readers, before)
	return d.err == nil, d.err
}

func (d *digestLog) calls() []subscriber.Reader {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.readers)
}

// settingsWords is what a reader of each language must see in /settings; kept here, not read
// from the locale files, so that a wrong translation fails.
var settingsWords = map[string]struct {
	title, instant, digest, breaking                string
	instantText, digestBoth, digestEvening, brkText string
	quietOn, quietOff, quietButton                  string
	modeSet, timeOff, timeOn, timeLast              string
	noteQuietOn, noteQuietOff, topics, langs, back  string
}{
	"kk": {
		title: "<b>Баптаулар</b>", instant: "Әр жаңалық бірден", digest: "Дайджест", breaking: "Тек шұғыл хабарлар",
		instantText:   "Әр жаңалық жарияланған бойда келеді.",
		digestBoth:    "Дайджест: белгіленген уақытта (08:00 және 19:00) алдыңғы дайджесттен бергі жаңалықтар бір хабарламамен келеді. Шұғыл хабарлар бірден келеді.",
		digestEvening: "белгіленген уақытта (19:00)", brkText: "Жарияланған бойда тек шұғыл хабарлар келеді.",
		quietOn:  "Тыныш уақыт 23:00–07:00: бұл уақытта жаңалықтар дыбыссыз келеді, шұғыл хабарлар — дыбыспен.",
		quietOff: "Тыныш уақыт өшірулі", quietButton: "Тыныш уақыт 23:00–07:00",
		modeSet: "Таңдалды: «Дайджест».", timeOff: "Дайджест уақыты алынып тасталды: 08:00.", timeOn: "Дайджест уақыты қосылды: 08:00.",
		timeLast: "Дайджест үшін кемінде бір уақыт қалдырыңыз.", noteQuietOn: "Тыныш уақыт қосылды: 23:00–07:00.", noteQuietOff: "Тыныш уақыт өшірілді.",
		topics: "Тақырыптар", langs: "Тілдер", back: "‹ Артқа",
	},
	"ru": {
		title: "<b>Настройки</b>", instant: "Каждая новость сразу", digest: "Дайджест", breaking: "Только срочные новости",
		instantText:   "Каждая новость приходит сразу после публикации.",
		digestBoth:    "Дайджест: в 08:00 и 19:00 приходит одно сообщение с новостями, вышедшими после предыдущего дайджеста. Срочные новости приходят сразу.",
		digestEvening: "Дайджест: в 19:00 приходит", brkText: "Приходят только срочные новости — сразу после публикации.",
		quietOn:  "Тихие часы 23:00–07:00: в это время новости приходят без звука, срочные — со звуком.",
		quietOff: "Тихие часы выключены", quietButton: "Тихие часы 23:00–07:00",
		modeSet: "Выбрано: «Дайджест».", timeOff: "Убрано время дайджеста: 08:00.", timeOn: "Добавлено время дайджеста: 08:00.",
		timeLast: "Оставьте хотя бы одно время дайджеста.", noteQuietOn: "Тихие часы включены: 23:00–07:00.", noteQuietOff: "Тихие часы выключены.",
		topics: "Темы", langs: "Языки", back: "‹ Назад",
	},
	"en": {
		title: "<b>Settings</b>", instant: "Each story as it comes", digest: "Digest", breaking: "Breaking news only",
		instantText:   "Each story comes as soon as it is published.",
		digestBoth:    "Digest: one message at 08:00 and 19:00 with the news since the last one. Breaking news still comes at once.",
		digestEvening: "Digest: one message at 19:00 with", brkText: "Only breaking news comes, as soon as it is published.",
		quietOn:  "Quiet hours 23:00–07:00: stories then come without sound; breaking news still notifies.",
		quietOff: "Quiet hours are off", quietButton: "Quiet hours 23:00–07:00",
		modeSet: "Chosen: «Digest».", timeOff: "Removed digest time: 08:00.", timeOn: "Added digest time: 08:00.",
		timeLast: "Keep at least one digest time.", noteQuietOn: "Quiet hours on: 23:00–07:00.", noteQuietOff: "Quiet hours off.",
		topics: "Topics", langs: "Languages", back: "‹ Back",
	},
}

// settingsMessage sends /settings and returns the message with its keyboard.
func (h *harness) settingsMessage(r who) (int, [][]btn) {
	h.t.Helper()
	before := h.sent(r.id)
	h.say(r, "/settings")
	if h.sent(r.id) != before+1 {
		h.t.Fatalf("/settings sent %d messages, want 1", h.sent(r.id)-before)
	}
	msg := h.last(r.id)
	return msg.MessageID, buttons(h.t.(*testing.T), msg)
}

// modeButtons returns which mode buttons are checked, in keyboard order.
func modeButtons(t *testing.T, kb [][]btn) map[subscriber.Mode]bool {
	t.Helper()
	out := map[subscriber.Mode]bool{}
	for _, m := range subscriber.Modes {
		out[m] = checked(find(t, kb, "o1:m:"+string(m)))
	}
	return out
}

func hasData(kb [][]btn, prefix string) bool {
	for _, row := range kb {
		for _, b := range row {
			if strings.HasPrefix(b.Data, prefix) {
				return true
			}
		}
	}
	return false
}

func TestSettingsShowsTheCurrentChoice(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			w := settingsWords[lang]
			reader := who{id: 3000, lang: lang}
			h.say(reader, "/start")
			_, kb := h.settingsMessage(reader)
			text := h.last(reader.id).Text()
			mustContain(t, text, w.title, w.instantText, w.quietOn)

			if got := modeButtons(t, kb); !got[subscriber.Instant] || got[subscriber.Digest] || got[subscriber.Breaking] {
				t.Errorf("mode buttons checked %v, want instant only", got)
			}
			for m, label := range map[subscriber.Mode]string{subscriber.Instant: checkMark + w.instant, subscriber.Digest: w.digest, subscriber.Breaking: w.breaking} {
				if b := find(t, kb, "o1:m:"+string(m)); b.Text != label {
					t.Errorf("mode %s button %q, want %q", m, b.Text, label)
				}
			}
			if hasData(kb, "o1:d:") {
				t.Errorf("digest times shown to an instant reader: %v", kb)
			}
			if b := find(t, kb, "o1:q:0"); b.Text != checkMark+w.quietButton {
				t.Errorf("quiet hours button %q, want %q", b.Text, checkMark+w.quietButton)
			}
			if b := find(t, kb, "o1:t"); b.Text != w.topics {
				t.Errorf("topics button %q", b.Text)
			}
			if b := find(t, kb, "o1:l"); b.Text != w.langs {
				t.Errorf("languages button %q", b.Text)
			}
		})
	}
}

func TestSettingsPressesEditInPlace(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			w := settingsWords[lang]
			reader := who{id: 3100, lang: lang}
			h.say(reader, "/start")
			id, _ := h.settingsMessage(reader)
			sent := h.sent(reader.id)
			edits := h.tg.Count("editMessageText")

			// Digest: the text says when it comes, both times are kept and shown.
			ans := h.press(reader.id, reader, id, "o1:m:digest")
			mustContain(t, ans.Params["text"].(string), w.modeSet)
			msg := h.last(reader.id)
			if msg.MessageID != id || h.sent(reader.id) != sent || h.tg.Count("editMessageText") != edits+1 {
				t.Fatalf("the press did not edit message %d in place (last %d, %d sent, %d edits)",
					id, msg.MessageID, h.sent(reader.id)-sent, h.tg.Count("editMessageText")-edits)
			}
			mustContain(t, msg.Text(), w.title, w.digestBoth, w.quietOn)
			kb := buttons(t, msg)
			if got := modeButtons(t, kb); got[subscriber.Instant] || !got[subscriber.Digest] || got[subscriber.Breaking] {
				t.Errorf("mode buttons checked %v, want digest only", got)
			}
			if b, c := find(t, kb, "o1:d:0800"), find(t, kb, "o1:d:1900"); b.Text != checkMark+"08:00" || c.Text != checkMark+"19:00" {
				t.Errorf("digest times %q, %q: want both checked", b.Text, c.Text)
			}
			if r := h.reader(reader.id); r.Mode != subscriber.Digest || len(r.DigestTimes) != 0 {
				t.Errorf("reader after choosing digest: mode %q, times %v", r.Mode, r.DigestTimes)
			}

			// Dropping 08:00 keeps the evening digest.
			ans = h.press(reader.id, reader, id, "o1:d:0800")
			mustContain(t, ans.Params["text"].(string), w.timeOff)
			msg = h.last(reader.id)
			mustContain(t, msg.Text(), w.digestEvening)
			if b := find(t, buttons(t, msg), "o1:d:0800"); checked(b) {
				t.Errorf("08:00 still checked: %q", b.Text)
			}
			if r := h.reader(reader.id); !slices.Equal(r.DigestTimes, []string{"19:00"}) {
				t.Errorf("digest times %v, want [19:00]", r.DigestTimes)
			}

			// The last one cannot be dropped: a note, no edit, nothing changed.
			edits = h.tg.Count("editMessageText")
			ans = h.press(reader.id, reader, id, "o1:d:1900")
			mustContain(t, ans.Params["text"].(string), w.timeLast)
			if h.tg.Count("editMessageText") != edits {
				t.Error("refusing to drop the last digest time edited the message")
			}
			if r := h.reader(reader.id); !slices.Equal(r.DigestTimes, []string{"19:00"}) {
				t.Errorf("digest times %v after refusing to drop the last one, want [19:00]", r.DigestTimes)
			}
			ans = h.press(reader.id, reader, id, "o1:d:0800")
			mustContain(t, ans.Params["text"].(string), w.timeOn)
			if r := h.reader(reader.id); !r.KeepsDigest("08:00") || !r.KeepsDigest("19:00") {
				t.Errorf("digest times %v, want both", r.DigestTimes)
			}

			// Quiet hours off and on again.
			ans = h.press(reader.id, reader, id, "o1:q:0")
			mustContain(t, ans.Params["text"].(string), w.noteQuietOff)
			msg = h.last(reader.id)
			mustContain(t, msg.Text(), w.quietOff)
			if b := find(t, buttons(t, msg), "o1:q:1"); b.Text != w.quietButton {
				t.Errorf("quiet hours button %q after turning them off, want %q", b.Text, w.quietButton)
			}
			if r := h.reader(reader.id); r.Quiet() {
				t.Error("quiet hours still on in the store")
			}
			ans = h.press(reader.id, reader, id, "o1:q:1")
			mustContain(t, ans.Params["text"].(string), w.noteQuietOn)
			mustContain(t, h.last(reader.id).Text(), w.quietOn)
			if r := h.reader(reader.id); !r.Quiet() {
				t.Error("quiet hours still off in the store")
			}

			// Breaking only: the digest times go away.
			h.press(reader.id, reader, id, "o1:m:breaking")
			msg = h.last(reader.id)
			mustContain(t, msg.Text(), w.brkText)
			kb = buttons(t, msg)
			if got := modeButtons(t, kb); !got[subscriber.Breaking] || got[subscriber.Digest] {
				t.Errorf("mode buttons checked %v, want breaking only", got)
			}
			if hasData(kb, "o1:d:") {
				t.Error("digest times still shown to a breaking-only reader")
			}
			if r := h.reader(reader.id); r.Mode != subscriber.Breaking {
				t.Errorf("mode %q, want breaking", r.Mode)
			}

			// The chosen mode again: answered, nothing edited.
			edits = h.tg.Count("editMessageText")
			ans = h.press(reader.id, reader, id, "o1:m:breaking")
			mustContain(t, ans.Params["text"].(string), w.breaking)
			if h.tg.Count("editMessageText") != edits {
				t.Error("pressing the current mode edited the message")
			}
			if h.sent(reader.id) != sent {
				t.Errorf("%d new messages from presses, want none", h.sent(reader.id)-sent)
			}
		})
	}
}

// TestSettingsDigestToInstantCatchesUp: a reader who leaves digests for instant reading gets
// the catch-up, once, computed from the reader as they were; other switches get none, and a
// failed catch-up is logged while the switch holds.
func TestSettingsDigestToInstantCatchesUp(t *testing.T) {
	t.Parallel()
	digests := &digestLog{}
	logs := &testkit.Log{}
	h := newHarness(t, func(o *Options) { o.Digests = digests; o.Log = logs.Logger() })
	reader := who{id: 3200, lang: "en"}
	h.say(reader, "/start")
	id, _ := h.settingsMessage(reader)

	h.press(reader.id, reader, id, "o1:m:digest")
	h.press(reader.id, reader, id, "o1:d:0800")
	h.press(reader.id, reader, id, "o1:m:breaking") // digest → breaking: no catch-up
	h.press(reader.id, reader, id, "o1:m:instant")  // breaking → instant: none either
	if n := len(digests.calls()); n != 0 {
		t.Fatalf("%d catch-ups for switches that do not leave digests for instant", n)
	}

	h.press(reader.id, reader, id, "o1:m:digest")
	before := h.reader(reader.id)
	// Two quick presses (two copies behind a webhook): one switch, one catch-up.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { h.press(reader.id, reader, id, "o1:m:instant") })
	}
	wg.Wait()
	calls := digests.calls()
	if len(calls) != 1 {
		t.Fatalf("%d catch-ups, want 1", len(calls))
	}
	got := calls[0]
	if got.ChatID != reader.id || got.Mode != subscriber.Digest || !slices.Equal(got.DigestTimes, []string{"19:00"}) ||
		!slices.Equal(got.Langs, before.Langs) || got.AllTopics != before.AllTopics {
		t.Errorf("catch-up got %+v, want the reader before the switch %+v", got, before)
	}
	if r := h.reader(reader.id); r.Mode != subscriber.Instant {
		t.Errorf("mode %q after the switch, want instant", r.Mode)
	}
	mustContain(t, h.last(reader.id).Text(), settingsWords["en"].instantText)

	// A catch-up that fails is logged; the switch holds.
	digests.mu.Lock()
	digests.err = errors.New("telegram down")
	digests.mu.Unlock()
	h.press(reader.id, reader, id, "o1:m:digest")
	ans := h.press(reader.id, reader, id, "o1:m:instant")
	mustContain(t, ans.Params["text"].(string), "Chosen: «Each story as it comes».")
	if r := h.reader(reader.id); r.Mode != subscriber.Instant {
		t.Errorf("mode %q after a failed catch-up, want instant", r.Mode)
	}
	recs := logs.Records("catch-up of a reader leaving digests")
	if len(recs) != 1 || recs[0]["chat_id"] != float64(reader.id) || !strings.Contains(recs[0]["err"].(string), "telegram down") {
		t.Errorf("log lines for the failed catch-up: %v\n%s", recs, logs.String())
	}
}

func TestStartGivesNewReadersTheDefaultMode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.DefaultMode = subscriber.Digest })
	fresh := who{id: 3300, lang: "ru"}
	h.say(fresh, "/start")
	if r := h.reader(fresh.id); r.Mode != subscriber.Digest {
		t.Errorf("a new reader's mode %q, want DEFAULT_MODE digest", r.Mode)
	}
	// The welcome says how the news comes: no promise of every story at once.
	mustContain(t, h.last(fresh.id).Text(), words["ru"].welcome, settingsWords["ru"].digestBoth, "/settings")

	linked := who{id: 3301, lang: "en"}
	h.say(linked, "/start politics")
	if r := h.reader(linked.id); r.Mode != subscriber.Digest || !slices.Equal(r.Topics, []string{"politics"}) {
		t.Errorf("a new reader by deep link: mode %q topics %v, want digest and politics", r.Mode, r.Topics)
	}

	// A returning reader keeps their own mode.
	id, _ := h.settingsMessage(fresh)
	h.press(fresh.id, fresh, id, "o1:m:breaking")
	h.say(fresh, "/stop")
	h.say(fresh, "/start")
	if r := h.reader(fresh.id); r.Mode != subscriber.Breaking || r.Status != subscriber.Active {
		t.Errorf("a returning reader: mode %q status %q, want breaking and active", r.Mode, r.Status)
	}
	mustContain(t, h.last(fresh.id).Text(), words["ru"].back, settingsWords["ru"].brkText)

	// Without DEFAULT_MODE, instant.
	plain := newHarness(t)
	reader := who{id: 3302, lang: "kk"}
	plain.say(reader, "/start")
	if r := plain.reader(reader.id); r.Mode != subscriber.Instant {
		t.Errorf("mode %q without DEFAULT_MODE, want instant", r.Mode)
	}
	mustContain(t, plain.last(reader.id).Text(), settingsWords["kk"].instantText)
}

// TestSettingsOpensTopicsAndLanguage: the two buttons turn the message into the /topics and
// /language keyboards, which work as usual and lead back to /settings.
func TestSettingsOpensTopicsAndLanguage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reader := who{id: 3400, lang: "en"}
	h.say(reader, "/start")
	id, _ := h.settingsMessage(reader)
	sent := h.sent(reader.id)

	h.press(reader.id, reader, id, "o1:t")
	msg := h.last(reader.id)
	mustContain(t, msg.Text(), "Choose your topics.")
	kb := buttons(t, msg)
	if b := find(t, kb, "i1:t:sport"); !checked(b) {
		t.Errorf("sport not checked: %q", b.Text)
	}
	if b := find(t, kb, "o1:s"); b.Text != settingsWords["en"].back {
		t.Errorf("back button %q", b.Text)
	}
	ans := h.press(reader.id, reader, id, "i1:t:sport")
	mustContain(t, ans.Params["text"].(string), words["en"].topicOff)
	if r := h.reader(reader.id); r.AllTopics || slices.Contains(r.Topics, "sport") {
		t.Errorf("reader after unfollowing sport from /settings: %+v", r)
	}
	kb = buttons(t, h.last(reader.id))
	find(t, kb, "o1:s") // the redraw keeps the way back
	if b := find(t, kb, "i1:t:sport"); checked(b) {
		t.Errorf("sport still checked: %q", b.Text)
	}

	h.press(reader.id, reader, id, "o1:s")
	mustContain(t, h.last(reader.id).Text(), settingsWords["en"].title, settingsWords["en"].instantText)

	h.press(reader.id, reader, id, "o1:l")
	msg = h.last(reader.id)
	mustContain(t, msg.Text(), words["en"].langSet)
	find(t, buttons(t, msg), "j1:n:ru")
	h.press(reader.id, reader, id, "j1:u:ru") // the interface language alone, as on /language
	msg = h.last(reader.id)
	mustContain(t, msg.Text(), words["ru"].langSet)
	if b := find(t, buttons(t, msg), "o1:s"); b.Text != settingsWords["ru"].back {
		t.Errorf("back button after switching to Russian: %q", b.Text)
	}
	if r := h.reader(reader.id); r.Lang != "ru" || !slices.Equal(r.Langs, []string{"en"}) {
		t.Errorf("reader = %+v, want interface ru, stories en", r)
	}
	h.press(reader.id, reader, id, "o1:s")
	mustContain(t, h.last(reader.id).Text(), settingsWords["ru"].title, settingsWords["ru"].instantText)
	if h.last(reader.id).MessageID != id || h.sent(reader.id) != sent {
		t.Errorf("%d messages sent while moving between the keyboards, want every press an edit", h.sent(reader.id)-sent)
	}
}

func TestSettingsGarbageAndStrangers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reader := who{id: 3500, lang: "ru"}
	h.say(reader, "/start")
	id, _ := h.settingsMessage(reader)
	before := h.reader(reader.id)
	edits := h.tg.Count("editMessageText") + h.tg.Count("editMessageReplyMarkup")
	for _, data := range []string{
		"o1", "o1:", "o1:m", "o1:m:", "o1:m:weekly", "o1:m:Instant", "o1:d:", "o1:d:0900", "o1:d:08:00",
		"o1:d:800", "o1:q:", "o1:q:2", "o1:q:on", "o1:t:x", "o1:l:ru", "o1:s:x", "o1:x", "o2:m:digest",
		"i1:n:ru", "i1:u:ru", "j1:t:sport", "i1:m:digest", "o1:m:" + strings.Repeat("d", 100),
	} {
		ans := h.press(reader.id, reader, id, data)
		if text, _ := ans.Params["text"].(string); !strings.Contains(text, words["ru"].stale) {
			t.Errorf("data %q: answer %q, want the out-of-date note", data, text)
		}
	}
	after := h.reader(reader.id)
	if after.Mode != before.Mode || after.QuietOff != before.QuietOff || !slices.Equal(after.DigestTimes, before.DigestTimes) {
		t.Errorf("garbage presses changed the reader: %+v -> %+v", before, after)
	}
	if n := h.tg.Count("editMessageText") + h.tg.Count("editMessageReplyMarkup"); n != edits {
		t.Errorf("%d edits after garbage presses", n-edits)
	}

	// A stopped reader, and a stranger.
	h.say(reader, "/stop")
	h.say(reader, "/settings")
	mustContain(t, h.last(reader.id).Text(), words["ru"].notSubscribed)
	ans := h.press(reader.id, reader, id, "o1:m:digest")
	mustContain(t, ans.Params["text"].(string), words["ru"].notSubscribed)
	if r := h.reader(reader.id); r.Mode != subscriber.Instant {
		t.Errorf("a stopped reader's press changed the mode to %q", r.Mode)
	}
	stranger := who{id: 3501, lang: "en"}
	h.say(stranger, "/settings")
	mustContain(t, h.last(stranger.id).Text(), words["en"].notSubscribed)
}

// TestSettingsWithoutQuietHoursOrChoice: QUIET_HOURS empty hides quiet hours (the text says
// nothing of them, a forged press is out of date); one digest time leaves nothing to choose.
func TestSettingsWithoutQuietHoursOrChoice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) {
		o.QuietHours = schedule.Window{}
		o.DigestTimes = []schedule.Clock{8 * 60}
	})
	reader := who{id: 3600, lang: "en"}
	h.say(reader, "/start")
	id, _ := h.settingsMessage(reader)
	h.press(reader.id, reader, id, "o1:m:digest")
	msg := h.last(reader.id)
	text := msg.Text()
	mustContain(t, text, "Digest: one message at 08:00 with the news since the last one.")
	if strings.Contains(text, "Quiet") {
		t.Errorf("quiet hours mentioned without QUIET_HOURS: %q", text)
	}
	kb := buttons(t, msg)
	if hasData(kb, "o1:q:") || hasData(kb, "o1:d:") {
		t.Errorf("keyboard %v: want neither quiet hours nor digest times", kb)
	}
	ans := h.press(reader.id, reader, id, "o1:q:0")
	mustContain(t, ans.Params["text"].(string), words["en"].stale)
	if !h.reader(reader.id).Quiet() {
		t.Error("a forged quiet-hours press changed the reader")
	}
}

func TestSettingsInAGroupAreForAdmins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	member := who{id: 21, lang: "en"}
	admin := who{id: 22, lang: "en"}
	h.tg.SetChatMember(testGroup, admin.id, "administrator")
	h.sayIn(testGroup, admin, "/start")

	h.sayIn(testGroup, member, "/settings")
	mustContain(t, h.last(testGroup).Text(), words["en"].adminOnly)
	h.sayIn(testGroup, admin, "/settings")
	msg := h.last(testGroup)
	mustContain(t, msg.Text(), settingsWords["en"].title)

	ans := h.press(testGroup, member, msg.MessageID, "o1:m:digest")
	mustContain(t, ans.Params["text"].(string), words["en"].adminOnly)
	if r := h.reader(testGroup); r.Mode != subscriber.Instant {
		t.Errorf("a member's press changed the group's mode to %q", r.Mode)
	}
	h.press(testGroup, admin, msg.MessageID, "o1:m:digest")
	if r := h.reader(testGroup); r.Mode != subscriber.Digest {
		t.Errorf("the admin's press left the group's mode %q", r.Mode)
	}
}
