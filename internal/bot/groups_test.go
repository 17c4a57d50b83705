package bot

import (
	"context"
	"testing"

	"newsbot/internal/subscriber"
	"newsbot/internal/telegramtest"
)

const testGroup int64 = -1001234567890

func TestGroupOnlyAdminsChangeTheSubscription(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			w := words[lang]
			member := who{id: 11, lang: lang}
			admin := who{id: 12, lang: lang}
			h.tg.SetChatMember(testGroup, admin.id, "administrator")

			h.sayIn(testGroup, member, "/start")
			mustContain(t, h.last(testGroup).Text(), w.adminOnly)
			if _, ok, _ := h.readers.Get(context.Background(), testGroup); ok {
				t.Fatal("a member subscribed the group")
			}

			h.sayIn(testGroup, admin, "/start@"+telegramtest.BotUsername+" politics")
			mustContain(t, h.last(testGroup).Text(), w.welcome)
			r := h.reader(testGroup)
			if !r.Group || r.Lang != lang || r.AllTopics || len(r.Topics) != 1 {
				t.Errorf("group reader = %+v", r)
			}
			msg := h.last(testGroup)

			// A member's press is refused, and changes nothing.
			ans := h.press(testGroup, member, msg.MessageID, "s1:t:sport")
			mustContain(t, ans.Params["text"].(string), w.adminOnly)
			if r := h.reader(testGroup); len(r.Topics) != 1 {
				t.Errorf("a member's press changed the group: %+v", r)
			}
			// The admin's press works.
			h.press(testGroup, admin, msg.MessageID, "s1:t:sport")
			if r := h.reader(testGroup); len(r.Topics) != 2 {
				t.Errorf("the admin's press did not change the group: %+v", r)
			}
			// Reading commands are open to everyone.
			h.sayIn(testGroup, member, "/help")
			mustContain(t, h.last(testGroup).Text(), w.help)
			h.sayIn(testGroup, member, "/stop")
			mustContain(t, h.last(testGroup).Text(), w.adminOnly)
			if r := h.reader(testGroup); r.Status != subscriber.Active {
				t.Errorf("a member stopped the group: %+v", r)
			}
		})
	}
}

func TestGroupAdminStatusIsCached(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	admin := who{id: 21, lang: "en"}
	h.tg.SetChatMember(testGroup, admin.id, "creator")
	h.sayIn(testGroup, admin, "/start")
	h.sayIn(testGroup, admin, "/topics")
	msg := h.last(testGroup)
	h.press(testGroup, admin, msg.MessageID, "t1:t:sport")
	h.press(testGroup, admin, msg.MessageID, "t1:t:sport")
	if n := h.tg.Count("getChatMember"); n != 1 {
		t.Errorf("%d getChatMember calls for one admin, want 1 (cached)", n)
	}

	// Telegram failing the check: the admin is told something went wrong, nothing changes.
	other := who{id: 22, lang: "en"}
	h.tg.FailNext("getChatMember", testGroup, telegramtest.ServerError())
	h.sayIn(testGroup, other, "/stop")
	mustContain(t, h.last(testGroup).Text(), "Something went wrong")
	if r := h.reader(testGroup); r.Status != subscriber.Active {
		t.Errorf("group stopped although the admin check failed: %+v", r)
	}
}

func TestGroupAnonymousAdmin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := message(testGroup, who{id: telegramGroupAnonymousBot}, "/start")
	m := u["message"].(map[string]any)
	m["from"] = map[string]any{"id": telegramGroupAnonymousBot, "is_bot": true, "first_name": "Group", "username": "GroupAnonymousBot"}
	m["sender_chat"] = chatObj(testGroup)
	h.handle(u)
	if r := h.reader(testGroup); r.Status != subscriber.Active || r.Lang != "kk" {
		t.Errorf("anonymous admin could not subscribe the group: %+v", r)
	}
	if n := h.tg.Count("getChatMember"); n != 0 {
		t.Errorf("%d getChatMember calls for an anonymous admin", n)
	}
}

func TestGroupIgnoresWhatIsNotForTheBot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	admin := who{id: 31, lang: "ru"}
	h.tg.SetChatMember(testGroup, admin.id, "administrator")
	h.sayIn(testGroup, admin, "/start@OtherBot")
	h.sayIn(testGroup, admin, "/help@other_bot")
	h.sayIn(testGroup, admin, "good morning, everyone")
	h.sayIn(testGroup, admin, "/weather") // maybe another bot's command
	if n := h.tg.Count(""); n != 0 {
		t.Errorf("the bot made %d calls for messages not meant for it: %v", n, h.tg.Requests(""))
	}
	h.sayIn(testGroup, admin, "/weather@"+telegramtest.BotUsername)
	mustContain(t, h.last(testGroup).Text(), words["ru"].unknown)
	if _, ok, _ := h.readers.Get(context.Background(), testGroup); ok {
		t.Error("the group was subscribed by a command for another bot")
	}
}

func TestMyChatMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reader := who{id: 41, lang: "ru"}
	h.say(reader, "/start")
	update := func(chat int64, from who, old, new string) map[string]any {
		return map[string]any{"my_chat_member": map[string]any{
			"chat": chatObj(chat), "from": userObj(from), "date": 1700000000,
			"old_chat_member": map[string]any{"user": map[string]any{"id": telegramtest.BotID, "is_bot": true, "first_name": "Newsbot"}, "status": old},
			"new_chat_member": map[string]any{"user": map[string]any{"id": telegramtest.BotID, "is_bot": true, "first_name": "Newsbot"}, "status": new},
		}}
	}
	h.handle(update(reader.id, reader, "member", "kicked"))
	if st := h.reader(reader.id).Status; st != subscriber.Blocked {
		t.Errorf("status after blocking the bot = %s", st)
	}
	// Unblocking does not subscribe by itself; /start does.
	h.handle(update(reader.id, reader, "kicked", "member"))
	if st := h.reader(reader.id).Status; st != subscriber.Blocked {
		t.Errorf("status after unblocking = %s, want still blocked until /start", st)
	}
	h.say(reader, "/start")
	if st := h.reader(reader.id).Status; st != subscriber.Active {
		t.Errorf("status after /start = %s", st)
	}

	// Added to a group: the group learns how to subscribe, in the adder's language.
	adder := who{id: 42, lang: "kk"}
	h.handle(update(testGroup, adder, "left", "member"))
	mustContain(t, h.last(testGroup).Text(), words["kk"].groupAdded)
	h.tg.SetChatMember(testGroup, adder.id, "creator")
	h.sayIn(testGroup, adder, "/start")
	h.handle(update(testGroup, adder, "member", "left"))
	if st := h.reader(testGroup).Status; st != subscriber.Blocked {
		t.Errorf("group status after removing the bot = %s", st)
	}
	// Channels and strangers: nothing.
	before := h.tg.Count("")
	h.handle(update(-1009999999999, adder, "left", "administrator"))
	h.handle(map[string]any{"my_chat_member": map[string]any{"chat": map[string]any{"id": -1009999999999, "type": "channel"}, "from": userObj(adder), "date": 1, "old_chat_member": map[string]any{"status": "left"}, "new_chat_member": map[string]any{"status": "administrator"}}})
	h.handle(update(43, who{id: 43}, "member", "kicked"))
	if after := h.tg.Count(""); after != before+1 { // only the supergroup got its note
		t.Errorf("%d calls for channel/stranger membership updates", after-before-1)
	}
}

func TestGroupMigration(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	admin := who{id: 51, lang: "en"}
	const oldGroup, newGroup int64 = -4001, -1004001
	h.tg.SetChatMember(oldGroup, admin.id, "creator")
	h.sayIn(oldGroup, admin, "/start sport")
	u := message(oldGroup, admin, "")
	m := u["message"].(map[string]any)
	delete(m, "text")
	m["migrate_to_chat_id"] = newGroup
	h.handle(u)
	r := h.reader(newGroup)
	if r.Status != subscriber.Active || len(r.Topics) != 1 || r.Topics[0] != "sport" {
		t.Errorf("migrated group = %+v", r)
	}
	if _, ok, _ := h.readers.Get(context.Background(), oldGroup); ok {
		t.Error("the old group id is still a reader")
	}
	// A migration of a group nobody subscribed is no error and sends nothing.
	before := h.tg.Count("")
	u = message(-4002, admin, "")
	u["message"].(map[string]any)["migrate_to_chat_id"] = int64(-1004002)
	h.handle(u)
	if h.tg.Count("") != before {
		t.Error("a migration of an unknown group sent something")
	}
}
