package source

import "testing"

func TestPlainText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Plain  text\nwith a line break", "Plain text\n\nwith a line break"},
		{"<p>Сенат <b>принял</b>\n закон</p><p>Второй&nbsp;абзац &laquo;цитата&raquo;</p>", "Сенат принял закон\n\nВторой абзац «цитата»"},
		{"Бірінші жол<br>Екінші жол<br/><br/>", "Бірінші жол\n\nЕкінші жол"},
		{`<div>Text<script>alert("x")</script><style>p{}</style> after</div>`, "Text after"},
		{"Tom &amp; Jerry &lt;3 &#8212; ok", "Tom & Jerry <3 — ok"},
		{"if a < b and c > d", "if a < b and c > d"},
		{"<ul><li>one</li><li>two</li></ul>", "one\n\ntwo"},
		{"<p>unclosed <i>italic", "unclosed italic"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := plainText(tt.in); got != tt.want {
			t.Errorf("plainText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := truncate("Қазақстан", 3); got != "Қ" {
		t.Errorf("truncate at a rune boundary = %q, want %q", got, "Қ")
	}
}
