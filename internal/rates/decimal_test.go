package rates

import (
	"encoding/json"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want, comma string
		sign            int
	}{
		{"498.55", "498.55", "498,55", 1},
		{"4.75", "4.75", "4,75", 1},
		{"4.750", "4.75", "4,75", 1},
		{" 524.28\n", "524.28", "524,28", 1},
		{"+1.07", "1.07", "1,07", 1},
		{"-0.40", "-0.40", "-0,40", -1},
		{"0.00", "0.00", "0,00", 0},
		{"0", "0.00", "0,00", 0},
		{"86", "86.00", "86,00", 1},
		{"0,012", "0.012", "0,012", 1},
		{"0.0342", "0.0342", "0,0342", 1},
	} {
		d, err := ParseDecimal(tc.in)
		if err != nil {
			t.Errorf("ParseDecimal(%q): %v", tc.in, err)
			continue
		}
		if got := d.String(); got != tc.want {
			t.Errorf("ParseDecimal(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
		if got := d.Format(","); got != tc.comma {
			t.Errorf("ParseDecimal(%q).Format(\",\") = %q, want %q", tc.in, got, tc.comma)
		}
		if d.Sign() != tc.sign {
			t.Errorf("ParseDecimal(%q).Sign() = %d", tc.in, d.Sign())
		}
	}
	for _, bad := range []string{"", " ", "н/д", "n/a", "abc", "4.7.5", "1,234.56", "4 750", "1e3", "NaN",
		"Inf", ".5", "5.", "+", "-", "+-5", "0x10", "1234567890123456"} {
		if d, err := ParseDecimal(bad); err == nil {
			t.Errorf("ParseDecimal(%q) = %s, want an error", bad, d)
		}
	}
}

// Dividing by the bank's quant moves the decimal point: no float, no 4.7499999.
func TestDivPow10Exact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"47.50", 1, "4.75"},
		{"0.12", 1, "0.012"},
		{"-0.30", 1, "-0.03"},
		{"13.23", 1, "1.323"},
		{"3.42", 2, "0.0342"},
		{"10.60", 3, "0.0106"},
		{"498.55", 0, "498.55"},
	} {
		d, err := MustDecimal(tc.in).divPow10(tc.n)
		if err != nil {
			t.Fatalf("%s / 10^%d: %v", tc.in, tc.n, err)
		}
		if got := d.String(); got != tc.want {
			t.Errorf("%s / 10^%d = %s, want %s", tc.in, tc.n, got, tc.want)
		}
	}
	if !MustDecimal("4.75").Equal(MustDecimal("4.750")) || MustDecimal("4.75").Equal(MustDecimal("4.76")) {
		t.Error("Equal")
	}
}

func TestDecimalJSONRoundTrip(t *testing.T) {
	t.Parallel()
	r := Rate{Code: "RUB", PerUnit: MustDecimal("4.750"), Change: MustDecimal("-0.012"), HasChange: true, Direction: DirDown}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"code":"RUB","per_unit":"4.75","change":"-0.012","has_change":true,"dir":"down"}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	var back Rate
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.PerUnit.Equal(r.PerUnit) || !back.Change.Equal(r.Change) || back.Direction != DirDown || !back.HasChange {
		t.Errorf("round trip = %+v", back)
	}
}
