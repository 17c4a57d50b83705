package main

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// updateScreenshot rewrites docs/playground.png, the screenshot of README's quick start.
// Without it the screenshot goes to the test's temporary directory, so that a test run
// leaves the tree clean.
var updateScreenshot = flag.Bool("update-screenshot", false, "write docs/playground.png from the browser test")

// chromium returns Debian's Chromium (or another Chrome) on this machine, or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// TestPlaygroundInABrowser runs `newsbot playground` (the real serve path, its own
// redis-server) and uses its page in a real Chromium as an editor would: a reader's /start
// and a topic button, a new story reaching the channel and the reader, a correction, the
// editor's /publish, hostile input, the labels in kk, ru and en.
func TestPlaygroundInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test starts the playground and Chromium; skipped with -short")
	}
	bin := chromium()
	if bin == "" {
		t.Skip("no Chromium on this machine (apt-get install chromium; .ci/run installs it): the playground's browser test did not run")
	}
	started := time.Now()

	// The playground, through the subcommand's wiring.
	ctx, stop := context.WithCancel(context.Background())
	out, logs := &lockedBuffer{}, &lockedBuffer{}
	env := map[string]string{
		"HTTP_ADDR":    "127.0.0.1:0",
		"ENV_FILE":     filepath.Join(t.TempDir(), "none.env"),
		"REDIS_URL":    "redis://127.0.0.1:1/0", // nothing there: the playground starts its own
		"ARTICLES_DIR": "../../articles",
		"LOG_LEVEL":    "warn",
		"PATH":         os.Getenv("PATH"),
	}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"playground"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, out, logs)
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("newsbot playground: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("newsbot playground still running 20s after the stop")
		}
		if t.Failed() {
			t.Logf("playground output:\n%s\n%s", out.String(), logs.String())
		}
	})
	var page string
	for deadline := time.Now().Add(60 * time.Second); page == ""; {
		if m := regexp.MustCompile(`page at (http://\S+/);`).FindStringSubmatch(out.String()); m != nil {
			page = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("newsbot playground ended before its page answered: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner after 60s:\n%s\n%s", out.String(), logs.String())
		}
	}

	// Chromium, as Debian ships it.
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1500),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	b := &browser{t: t, ctx: bctx}
	b.do(chromedp.Navigate(page + "?lang=en"))

	// The sample story is in the English channel, and the sample readers are there.
	b.waitFor("the sample story in the English channel", `enChannel().querySelector('.msg .text').textContent.includes('Chinese leader')`, 30*time.Second)
	b.waitFor("the sample readers", `document.querySelectorAll('[data-reader]').length >= 6`, 30*time.Second)

	// A new reader.
	b.addReader("Zhanar", "en")

	// /start: the welcome, with its buttons.
	b.say("reader-chat", "/start")
	b.waitFor("the welcome with its buttons", `(() => { const m = document.querySelector('#reader-chat .msg.bot'); return m && m.textContent.includes('Welcome') && m.querySelectorAll('[data-press]').length > 3; })()`, 10*time.Second)
	before := b.text(`#reader-chat .msg.bot .kb`)
	b.do(chromedp.Click(chromedp.CSS(`#reader-chat .msg.bot [data-press^="s1:t:"]`)))
	b.waitFor("the keyboard to change after the press", `document.querySelector('#reader-chat .msg.bot .kb').textContent !== `+jsString(before), 10*time.Second)

	// A new story from the form: in the channel and in the reader's chat within 2 s, with a
	// Share button to t.me/share/url; its title shown as written, not as markup.
	title := `Astana hosts the <i>summit</i> & "more"`
	b.do(chromedp.SetValue(chromedp.CSS(`#new-story input[name=title]`), title))
	b.do(chromedp.SetValue(chromedp.CSS(`#new-story textarea[name=lead]`), "Leaders of Central Asia meet in Astana."))
	b.do(chromedp.SetValue(chromedp.CSS(`#new-story select[name=lang]`), "en"))
	b.do(chromedp.Click(chromedp.CSS(`#new-story input[name=topics][value=politics]`)))
	b.do(chromedp.Click(chromedp.CSS(`#new-story input[name=breaking]`)))
	b.do(chromedp.SetValue(chromedp.CSS(`#new-story input[name=image_url]`), "https://photos.example.kz/summit.jpg"))
	submitted := time.Now()
	b.do(chromedp.Click(chromedp.CSS(`#new-story button[type=submit]`)))
	b.waitFor("the story in the channel and in the reader's chat", `[...enChannel().querySelectorAll('.msg .text')].some(e => e.textContent.includes('Astana hosts the <i>summit</i> & "more"')) &&
		[...document.querySelectorAll('#reader-chat .msg.bot .text')].some(e => e.textContent.includes('Astana hosts the <i>summit</i>'))`, 5*time.Second)
	if took := time.Since(submitted); took > 2*time.Second {
		t.Errorf("the story took %s to show in the channel and the reader's chat, want at most 2s", took.Round(10*time.Millisecond))
	}
	if !b.eval(`[...enChannel().querySelectorAll('.msg')].filter(m => m.textContent.includes('Astana hosts')).every(m => m.querySelector('a.kb-btn.share') && m.querySelector('a.kb-btn.share').href.startsWith('https://t.me/share/url?url='))`) {
		t.Error("the channel post has no Share button to t.me/share/url")
	}
	if !b.eval(`[...document.querySelectorAll('#reader-chat .msg.bot')].some(m => m.textContent.includes('Astana hosts') && m.querySelector('a.kb-btn.share[href^="https://t.me/share/url?url="]'))`) {
		t.Error("the reader's copy has no Share button to t.me/share/url")
	}

	// A correction edits the channel post.
	b.do(chromedp.Click(chromedp.CSS(`#stories [data-act=correct]`)))
	b.do(chromedp.SetValue(chromedp.CSS(`#correct input[name=title]`), "Astana hosts the summit (corrected)"))
	b.do(chromedp.Click(chromedp.CSS(`#correct button[type=submit]`)))
	b.waitFor("the corrected channel post", `[...enChannel().querySelectorAll('.msg')].some(m => m.textContent.includes('Astana hosts the summit (corrected)') && m.querySelector('.edited'))`, 10*time.Second)

	// The editor publishes the sample story: /publish, then Confirm.
	b.say("editor-chat", "/publish el-2022-09-14-xi-jinping-kazakhstan")
	b.waitFor("the preview with Confirm", `[...document.querySelectorAll('#editor-chat [data-press]')].some(x => x.textContent.includes('Confirm'))`, 10*time.Second)
	b.eval(`[...document.querySelectorAll('#editor-chat [data-press]')].find(x => x.textContent.includes('Confirm')).click() || true`)
	// A story readers already have asks once more before it is pushed again.
	b.waitFor("the published note or the question", `document.querySelector('#editor-chat').textContent.includes('Published by') ||
		[...document.querySelectorAll('#editor-chat [data-press]')].some(x => x.textContent.includes('Push again'))`, 10*time.Second)
	b.eval(`(([...document.querySelectorAll('#editor-chat [data-press]')].find(x => x.textContent.includes('Push again')) || {click() {}}).click(), true)`)
	b.waitFor("the published note", `document.querySelector('#editor-chat').textContent.includes('Published by')`, 10*time.Second)

	// Stories in Kazakh and Russian reach their channels.
	b.addStory("Астанада Орталық Азия елдерінің саммиті өтті", "kk")
	b.addStory("В Астане прошёл саммит стран Центральной Азии", "ru")
	b.waitFor("the kk and ru stories in their channels", `channel('kk').textContent.includes('Астанада Орталық Азия') && channel('ru').textContent.includes('В Астане прошёл саммит')`, 5*time.Second)

	// The screenshot, before the labels change.
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "playground.png")
	if *updateScreenshot {
		path = filepath.Join("..", "..", "docs", "playground.png")
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	// Hostile input: HTML typed by a reader, a 5,000-character title, a broken photo URL.
	b.say("reader-chat", `<script>window.pwned=1</script><b>bold?</b>`)
	b.waitFor("the reader's message shown as typed", `[...document.querySelectorAll('#reader-chat .msg.mine .text')].some(e => e.textContent === '<script>window.pwned=1</script><b>bold?</b>')`, 5*time.Second)
	b.do(chromedp.SetValue(chromedp.CSS(`#new-story input[name=title]`), strings.Repeat("Ұ", 5000)))
	b.do(chromedp.Click(chromedp.CSS(`#new-story button[type=submit]`)))
	b.waitFor("the long title refused", `document.querySelector('#story-status').textContent.includes('title: longer than 1000 characters')`, 5*time.Second)
	b.do(chromedp.SetValue(chromedp.CSS(`#new-story input[name=title]`), "Broken photo"))
	b.do(chromedp.SetValue(chromedp.CSS(`#new-story input[name=image_url]`), "ht!tp://photos/<b>x</b>"))
	b.do(chromedp.Click(chromedp.CSS(`#new-story button[type=submit]`)))
	b.waitFor("the broken photo URL refused", `document.querySelector('#story-status').textContent.includes('image_url:')`, 5*time.Second)
	b.addReader(`<img src=x onerror="window.pwned=1">Zhanar`, "ru")
	if b.eval(`window.pwned === 1 || document.querySelector('.msgs script, .msgs img[src="x"], #readers img') !== null`) {
		t.Error("hostile input ran or reached the page as markup")
	}

	// The page's labels follow the editor's language; the reader shown stays.
	for lang, want := range map[string]string{"kk": "Арналар", "ru": "Каналы", "en": "Channels"} {
		b.do(chromedp.Click(chromedp.CSS(`[data-lang-link=` + lang + `]`)))
		b.waitFor("the "+lang+" labels", `document.documentElement.lang === '`+lang+`' && document.querySelector('.channels h2').textContent === '`+want+`' &&
			document.querySelector('#reader-chat .chat-head b').textContent.includes('Zhanar')`, 10*time.Second)
	}
	t.Logf("the playground in a browser: %s", time.Since(started).Round(100*time.Millisecond))
}

// browser drives one tab of the page.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// helpers are defined in the page before each check.
const helpers = `window.channel = (lang) => [...document.querySelectorAll('.pane.channel')].find(p => p.querySelector('.pane-head b').textContent.endsWith('_' + lang));
	window.enChannel = () => channel('en');`

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v\npage:\n%s", err, b.dump())
	}
}

// waitFor waits until the JavaScript condition holds.
func (b *browser) waitFor(what, cond string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, time.Until(deadline)+5*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`(() => { `+helpers+` try { return !!(`+cond+`); } catch (e) { return false; } })()`,
			chromedp.WithPollingTimeout(max(time.Until(deadline), time.Millisecond)), chromedp.WithPollingInterval(20*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		// A navigation (the language links) replaces the page the poll ran in: poll the new one.
		if time.Now().Before(deadline) && (strings.Contains(err.Error(), "context") || strings.Contains(err.Error(), "navigat")) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		b.t.Fatalf("waiting for %s: %v\npage:\n%s", what, err, b.dump())
	}
}

func (b *browser) eval(expr string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(() => { `+helpers+` return !!(`+expr+`); })()`))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// addReader adds a reader with the form; the page then shows their chat.
func (b *browser) addReader(name, lang string) {
	b.t.Helper()
	b.do(
		chromedp.Evaluate[chromedp.Void](`document.querySelector('details.add-reader').open = true`),
		chromedp.SetValue(chromedp.CSS(`#add-reader input[name=name]`), name),
		chromedp.SetValue(chromedp.CSS(`#add-reader select[name=lang]`), lang),
		chromedp.Click(chromedp.CSS(`#add-reader button[type=submit]`)),
	)
	b.waitFor("the new reader's chat", `document.querySelector('#reader-chat .chat-head b').textContent === `+jsString(name), 5*time.Second)
}

// addStory adds a story with the form.
func (b *browser) addStory(title, lang string) {
	b.t.Helper()
	b.do(
		chromedp.SetValue(chromedp.CSS(`#new-story input[name=title]`), title),
		chromedp.SetValue(chromedp.CSS(`#new-story select[name=lang]`), lang),
		chromedp.Click(chromedp.CSS(`#new-story button[type=submit]`)),
	)
	b.waitFor("the story written", `document.querySelector('#story-status').textContent.includes('.json') && document.querySelector('#new-story input[name=title]').value === ''`, 5*time.Second)
}

// say types into a chat's input and sends it, as a reader or the editor would.
func (b *browser) say(chat, text string) {
	b.t.Helper()
	b.do(
		chromedp.SetValue(chromedp.CSS(`form.say[data-target=`+chat+`] input`), text),
		chromedp.Click(chromedp.CSS(`form.say[data-target=`+chat+`] button`)),
	)
}

func (b *browser) dump() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').innerText : document.body.innerText`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "'", `\'`, "\n", `\n`, "\r", `\r`, "\u2028", `\u2028`, "\u2029", `\u2029`)
	return "'" + r.Replace(s) + "'"
}
