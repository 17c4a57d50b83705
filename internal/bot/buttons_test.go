package bot

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// languageMessage sends /language and returns the id of the message with its keyboard.
func (h *harness) languageMessage(r who) int {
	h.t.Helper()
	h.say(r, "/language")
	return h.last(r.id).MessageID
}

func TestTopicsToggleEditsTheKeyboardInPlace(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			w := words[lang]
			reader := who{id: 800, lang: lang}
			h.say(reader, "/start")
			h.say(reader, "/topics")
			msg := h.last(reader.id)
			kb := buttons(t, msg)
			if len(kb) != 5 { // 7 topics two to a row, then "All topics"
				t.Errorf("%d keyboard rows, want 5: %v", len(kb), kb)
			}
			if b := find(t, kb, "t1:t:sport"); b.Text != checkMark+w.sport {
				t.Errorf("sport button %q", b.Text)
			}
			sentBefore := h.sent(reader.id)

			// Unfollow sport: the same message's keyboard is edited, nothing new is sent.
			ans := h.press(reader.id, reader, msg.MessageID, "t1:t:sport")
			mustContain(t, ans.Params["text"].(string), w.topicOff)
			edited := h.last(reader.id)
			if edited.MessageID != msg.MessageID || h.sent(reader.id) != sentBefore {
				t.Fatalf("the press sent a new message instead of editing %d", msg.MessageID)
			}
			if n := len(h.tg.Requests("editMessageReplyMarkup")); n != 1 {
				t.Errorf("%d editMessageReplyMarkup calls, want 1", n)
			}
			kb = buttons(t, edited)
			if b := find(t, kb, "t1:t:sport"); checked(b) || b.Text != w.sport {
				t.Errorf("sport still checked after unfollowing: %q", b.Text)
			}
			if b := find(t, kb, "t1:t:politics"); !checked(b) {
				t.Errorf("politics unchecked: %q", b.Text)
			}
			if b := find(t, kb, "t1:t:*"); checked(b) {
				t.Errorf("all topics still checked: %q", b.Text)
			}
			r := h.reader(reader.id)
			if r.AllTopics || slices.Contains(r.Topics, "sport") || len(r.Topics) != len(testTopics)-1 {
				t.Errorf("reader after unfollowing sport: %+v", r)
			}

			// Following it again makes the reader follow all topics once more.
			ans = h.press(reader.id, reader, msg.MessageID, "t1:t:sport")
			mustContain(t, ans.Params["text"].(string), w.topicOn)
			if r := h.reader(reader.id); !r.AllTopics {
				t.Errorf("every topic checked, but not all topics: %+v", r)
			}
			if b := find(t, buttons(t, h.last(reader.id)), "t1:t:*"); !checked(b) {
				t.Errorf("all topics not checked: %q", b.Text)
			}

			// "All topics" off clears the checks; then one topic.
			h.press(reader.id, reader, msg.MessageID, "t1:t:*")
			kb = buttons(t, h.last(reader.id))
			for _, row := range kb {
				for _, b := range row {
					if checked(b) {
						t.Errorf("%q checked after turning all topics off", b.Text)
					}
				}
			}
			ans = h.press(reader.id, reader, msg.MessageID, "t1:t:politics")
			r = h.reader(reader.id)
			if r.AllTopics || !slices.Equal(r.Topics, []string{"politics"}) {
				t.Errorf("reader = %+v, want politics only", r)
			}
			// The answer counts topics with the language's plural form.
			want := map[string]string{"kk": "Сіз 1 тақырыпқа жазылғансыз", "ru": "Вы подписаны на 1 тему", "en": "You follow 1 topic:"}[lang]
			mustContain(t, ans.Params["text"].(string), want)
			ans = h.press(reader.id, reader, msg.MessageID, "t1:t:economy")
			ans = h.press(reader.id, reader, msg.MessageID, "t1:t:world")
			want = map[string]string{"kk": "Сіз 3 тақырыпқа жазылғансыз", "ru": "Вы подписаны на 3 темы", "en": "You follow 3 topics:"}[lang]
			mustContain(t, ans.Params["text"].(string), want)
			// Topic names inside the sentence stand in quotes, as in «Вы подписались на тему
			// «Спорт»», not capitalised mid-sentence.
			want = map[string]string{
				"kk": "Сіз 3 тақырыпқа жазылғансыз: «Саясат», «Экономика», «Әлем».",
				"ru": "Вы подписаны на 3 темы: «Политика», «Экономика», «В мире».",
				"en": "You follow 3 topics: «Politics», «Economy», «World».",
			}[lang]
			mustContain(t, ans.Params["text"].(string), want)
			h.press(reader.id, reader, msg.MessageID, "t1:t:sport")
			h.press(reader.id, reader, msg.MessageID, "t1:t:culture")
			ans = h.press(reader.id, reader, msg.MessageID, "t1:t:society")
			if lang == "ru" {
				mustContain(t, ans.Params["text"].(string), "Вы подписаны на 6 тем")
			}
		})
	}
}

func TestStartKeyboardTogglesAndSwitchesLanguage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reader := who{id: 900, lang: "en"}
	h.say(reader, "/start")
	msg := h.last(reader.id)

	h.press(reader.id, reader, msg.MessageID, "s1:t:politics")
	kb := buttons(t, h.last(reader.id))
	if b := find(t, kb, "s1:t:politics"); checked(b) {
		t.Errorf("politics still checked: %q", b.Text)
	}
	if len(kb[len(kb)-1]) != 3 {
		t.Errorf("the language row is gone after a topic press: %v", kb)
	}
	mustContain(t, h.last(reader.id).Text(), words["en"].welcome)

	// Switching to Russian redraws the welcome in Russian; the stories follow.
	ans := h.press(reader.id, reader, msg.MessageID, "s1:u:ru")
	mustContain(t, ans.Params["text"].(string), words["ru"].langSet)
	edited := h.last(reader.id)
	if edited.MessageID != msg.MessageID {
		t.Fatal("language switch sent a new message")
	}
	mustContain(t, edited.Text(), words["ru"].welcome, "русский")
	kb = buttons(t, edited)
	if b := find(t, kb, "s1:t:economy"); b.Text != checkMark+"Экономика" {
		t.Errorf("economy button after switching to ru: %q", b.Text)
	}
	if b := find(t, kb, "s1:t:politics"); b.Text != "Политика" {
		t.Errorf("politics button after switching to ru: %q", b.Text)
	}
	if b := find(t, kb, "s1:u:ru"); !checked(b) {
		t.Errorf("Russian not checked: %q", b.Text)
	}
	r := h.reader(reader.id)
	if r.Lang != "ru" || !slices.Equal(r.Langs, []string{"ru"}) {
		t.Errorf("reader = %+v, want interface and stories in ru", r)
	}
	h.say(reader, "/help")
	mustContain(t, h.last(reader.id).Text(), words["ru"].help)
}

func TestLanguageKeyboard(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			w := words[lang]
			reader := who{id: 1000, lang: lang}
			h.say(reader, "/start")
			id := h.languageMessage(reader)
			msg := h.last(reader.id)
			mustContain(t, msg.Text(), w.langSet)
			kb := buttons(t, msg)
			if len(kb) != 4 || len(kb[0]) != 3 {
				t.Fatalf("keyboard %v: want a row of 3 interface languages and 3 story-language rows", kb)
			}
			for _, l := range testLangs {
				if b := find(t, kb, "l1:u:"+l); checked(b) != (l == lang) {
					t.Errorf("interface button %q", b.Text)
				}
				if b := find(t, kb, "l1:n:"+l); checked(b) != (l == lang) {
					t.Errorf("story button %q", b.Text)
				}
			}

			// Add another story language, then try to remove every one.
			other := map[string]string{"kk": "ru", "ru": "en", "en": "kk"}[lang]
			h.press(reader.id, reader, id, "l1:n:"+other)
			if r := h.reader(reader.id); len(r.Langs) != 2 || !slices.Contains(r.Langs, other) {
				t.Errorf("langs = %v, want %s and %s", r.Langs, lang, other)
			}
			if b := find(t, buttons(t, h.last(reader.id)), "l1:n:"+other); !checked(b) {
				t.Errorf("%q not checked after adding", b.Text)
			}
			h.press(reader.id, reader, id, "l1:n:"+lang)
			ans := h.press(reader.id, reader, id, "l1:n:"+other)
			mustContain(t, ans.Params["text"].(string), w.newsLast)
			if r := h.reader(reader.id); !slices.Equal(r.Langs, []string{other}) {
				t.Errorf("langs = %v, want the last one kept", r.Langs)
			}

			// The interface language alone changes when the reader chose story languages.
			ans = h.press(reader.id, reader, id, "l1:u:"+other)
			mustContain(t, ans.Params["text"].(string), words[other].langSet)
			mustContain(t, h.last(reader.id).Text(), words[other].langSet)
			if r := h.reader(reader.id); r.Lang != other || !slices.Equal(r.Langs, []string{other}) {
				t.Errorf("reader = %+v", r)
			}
			h.press(reader.id, reader, id, "l1:u:"+lang)
			if r := h.reader(reader.id); r.Lang != lang || !slices.Equal(r.Langs, []string{other}) {
				t.Errorf("reader = %+v: story languages the reader chose must not follow the interface", r)
			}
			// Pressing the current language changes nothing and is still answered.
			edits := h.tg.Count("editMessageText")
			ans = h.press(reader.id, reader, id, "l1:u:"+lang)
			mustContain(t, ans.Params["text"].(string), w.langSet)
			if h.tg.Count("editMessageText") != edits {
				t.Error("pressing the current language edited the message")
			}
		})
	}
}

func TestButtonsOfAStoppedReader(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reader := who{id: 1100, lang: "kk"}
	h.say(reader, "/start")
	id := h.last(reader.id).MessageID
	h.say(reader, "/stop")
	ans := h.press(reader.id, reader, id, "s1:t:politics")
	mustContain(t, ans.Params["text"].(string), words["kk"].notSubscribed)
	if r := h.reader(reader.id); r.Status != subscriber.Stopped || !r.AllTopics {
		t.Errorf("a stopped reader's press changed them: %+v", r)
	}
	// A stranger's press (no reader at all) likewise.
	ans = h.press(1101, who{id: 1101, lang: "en"}, 5, "t1:t:sport")
	mustContain(t, ans.Params["text"].(string), words["en"].notSubscribed)
}

func TestGarbageCallbackData(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reader := who{id: 1200, lang: "ru"}
	h.say(reader, "/start")
	id := h.last(reader.id).MessageID
	before := h.reader(reader.id)
	for _, data := range []string{
		"", ":", "x", "t1", "t1:", "t1:t", "t1:t:", "t1:t:weather", "t1:u:ru", "t1:n:ru",
		"l1:t:sport", "s1:n:ru", "s1:u:de", "t0:t:sport", "t2:t:sport", "T1:t:sport",
		"t1:t:sport:extra", "t1:t:../../etc", "t1:t:" + strings.Repeat("s", 200), "t1:t:\xff\xfe",
		"t1:t:спорт", "l1:n:" + strings.Repeat("ru", 40),
	} {
		ans := h.press(reader.id, reader, id, data)
		if text, _ := ans.Params["text"].(string); !strings.Contains(text, words["ru"].stale) {
			t.Errorf("data %q: answer %q, want the out-of-date note", data, text)
		}
	}
	if after := h.reader(reader.id); !slices.Equal(after.Topics, before.Topics) || after.AllTopics != before.AllTopics || !slices.Equal(after.Langs, before.Langs) {
		t.Errorf("garbage presses changed the reader: %+v -> %+v", before, after)
	}
	if n := len(h.tg.Requests("editMessageReplyMarkup")) + len(h.tg.Requests("editMessageText")); n != 0 {
		t.Errorf("%d edits after garbage presses", n)
	}
}

// Two copies behind a webhook may handle two quick presses of one reader at the same time:
// neither press may undo the other.
func TestConcurrentLanguagePressesBothCount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i := range 20 {
		r := who{id: int64(9100 + i), lang: "kk"}
		h.say(r, "/start")
		id := h.languageMessage(r)
		var wg sync.WaitGroup
		for _, l := range []string{"ru", "en"} {
			wg.Go(func() { h.press(r.id, r, id, "l1:n:"+l) })
		}
		wg.Wait()
		if got := h.reader(r.id).Langs; !slices.Equal(got, []string{"kk", "ru", "en"}) {
			t.Errorf("reader %d pressed ru and en at once: story languages %v, want [kk ru en]", r.id, got)
		}
	}
}

// TestLanguageNamesInRunningText: inside a sentence Kazakh and Russian write language names in
// lower case («Языки новостей: казахский, русский»); the capitalised names are for headings
// and buttons only.
func TestLanguageNamesInRunningText(t *testing.T) {
	t.Parallel()
	want := map[string]struct{ status, current, added, both, wrong string }{
		"kk": {"Жаңалықтар тілі: қазақша.", "Бот тілі: қазақша.", "Жаңалықтар тілі қосылды: орысша.",
			"Жаңалықтар тілі: қазақша, орысша.", "Қазақ тілі,"},
		"ru": {"Языки новостей: русский.", "Язык бота: русский.", "Добавлен язык новостей: английский.",
			"Языки новостей: русский, английский.", "Русский"},
		"en": {"Stories in: English.", "Bot language: English.", "Added story language: Kazakh.",
			"Stories in: Kazakh, English.", "english"},
	}
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			w := want[lang]
			reader := who{id: 1050, lang: lang}
			h.say(reader, "/start")
			mustContain(t, h.last(reader.id).Text(), w.status)
			id := h.languageMessage(reader)
			mustContain(t, h.last(reader.id).Text(), w.current, w.status)
			other := map[string]string{"kk": "ru", "ru": "en", "en": "kk"}[lang]
			ans := h.press(reader.id, reader, id, "l1:n:"+other)
			mustContain(t, ans.Params["text"].(string), w.added)
			text := h.last(reader.id).Text()
			mustContain(t, text, w.both)
			if strings.Contains(text, w.wrong) {
				t.Errorf("text %q\n holds %q mid-sentence", text, w.wrong)
			}
		})
	}
}

// TestLongestTopicSlugFitsCallbackData: TOPICS allows slugs of 32 characters; every keyboard
// holding one, also as opened from /settings, must stay within Telegram's 64 bytes of
// callback_data (the fake refuses more).
func TestLongestTopicSlugFitsCallbackData(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 30) + "-9" // 32 characters, the longest slug TOPICS takes
	topics := append(slices.Clone(testTopics), long)
	var store *subscriber.Store
	h := newHarness(t, func(o *Options) {
		o.Topics = topics
		store = subscriber.NewStore(o.Redis, o.Prefix, testLangs, topics)
		o.Readers = store
	})
	h.readers = store
	reader := who{id: 1060, lang: "kk"}
	h.say(reader, "/start "+long)
	start := h.last(reader.id)
	find(t, buttons(t, start), "s1:t:"+long)
	h.say(reader, "/topics")
	msg := h.last(reader.id)
	if msg.MessageID == start.MessageID {
		t.Fatal("/topics sent nothing")
	}
	h.press(reader.id, reader, msg.MessageID, "t1:t:"+long)
	if r := h.reader(reader.id); slices.Contains(r.Topics, long) {
		t.Errorf("the press on the long topic did not toggle it: %+v", r)
	}

	// The same keyboard opened from /settings (another view), and every /settings button
	// (buttons checks each one's length).
	h.say(reader, "/settings")
	settings := h.last(reader.id)
	buttons(t, settings)
	h.press(reader.id, reader, settings.MessageID, "o1:m:digest")
	buttons(t, h.last(reader.id))
	h.press(reader.id, reader, settings.MessageID, "o1:t")
	find(t, buttons(t, h.last(reader.id)), "i1:t:"+long)
	h.press(reader.id, reader, settings.MessageID, "i1:t:"+long)
	if r := h.reader(reader.id); !slices.Contains(r.Topics, long) {
		t.Errorf("the press on the long topic from /settings did not toggle it: %+v", r)
	}
	h.press(reader.id, reader, settings.MessageID, "o1:l")
	buttons(t, h.last(reader.id))
}

// TestAllTopicsOffKeepsAConcurrentChange: turning "all topics" off when every topic is also
// checked clears the topics; it must not write back the rest of a record read before another
// copy changed it (here: the reader's story languages).
func TestAllTopicsOffKeepsAConcurrentChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reader := who{id: 1070, lang: "en"}
	h.say(reader, "/start")
	msg := h.last(reader.id)
	err := h.readers.Save(context.Background(), subscriber.Reader{
		ChatID: reader.id, Lang: "en", Langs: []string{"en"}, Topics: testTopics, AllTopics: true, Status: subscriber.Active,
	})
	if err != nil {
		t.Fatal(err)
	}
	race := &racingReaders{Store: h.readers, change: func() {
		if _, err := h.readers.SetLanguages(context.Background(), reader.id, []string{"ru", "en"}); err != nil {
			t.Error(err)
		}
	}}
	h.opts.Readers = race
	if h.bot, err = New(h.opts); err != nil {
		t.Fatal(err)
	}
	ans := h.press(reader.id, reader, msg.MessageID, "s1:t:*")
	mustContain(t, ans.Params["text"].(string), "You no longer follow all topics")
	r := h.reader(reader.id)
	if r.AllTopics || len(r.Topics) != 0 || !slices.Equal(r.Langs, []string{"ru", "en"}) {
		t.Errorf("reader = %+v, want no topics and the story languages the other copy set (ru, en)", r)
	}
}

// BenchmarkTopicPress measures one /topics button press end to end: flood check, reader
// load, atomic toggle in Redis, answerCallbackQuery and editMessageReplyMarkup over HTTP to
// the fake Bot API.
func BenchmarkTopicPress(b *testing.B) {
	h := newHarness(b, func(o *Options) {
		o.Log = slog.New(slog.DiscardHandler)
		o.Flood = FloodLimit{Events: 1 << 30, Window: time.Hour}
	})
	h.tg.SetRecord(false)
	reader := who{id: 4242, lang: "ru"}
	h.say(reader, "/start")
	raw, _ := json.Marshal(map[string]any{"update_id": 1, "callback_query": map[string]any{
		"id": "bench", "from": userObj(reader), "chat_instance": "c", "data": "t1:t:sport",
		"message": map[string]any{"message_id": 1, "date": 1, "chat": chatObj(reader.id)},
	}})
	var u telegram.Update
	if err := json.Unmarshal(raw, &u); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.bot.HandleUpdate(ctx, u)
	}
}
