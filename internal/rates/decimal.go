package rates

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Decimal is an exact decimal number, units × 10^-scale. Rates are money: 4.75 must stay
// 4.75 through parsing, dividing by the bank's quant, storing in Redis and printing, which a
// float64 does not promise (4.75/1 is fine, 47.5/10 may print 4.7499999…).
//
// The zero value is 0.
type Decimal struct {
	units int64
	scale int
}

// maxDigits bounds what ParseDecimal accepts so that units (and units × 10^k for the few k
// the quant adds) fit in an int64 with room to spare.
const maxDigits = 15

// maxScale bounds the fractional digits after dividing by a quant (10000 at most adds 4).
const maxScale = 12

var errNotNumber = errors.New("not a number")

// ParseDecimal reads "498.55", "-0.40", "+1.07" or "0,012": an optional sign, digits, and at
// most one decimal point (a comma is read as one too). Anything else — empty, spaces inside,
// letters, exponents, thousands separators — is an error: a value the code cannot read exactly
// is never shown.
func ParseDecimal(s string) (Decimal, error) {
	orig := s
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, hasPoint := strings.Cut(strings.Replace(s, ",", ".", 1), ".")
	if intPart == "" || hasPoint && frac == "" {
		return Decimal{}, fmt.Errorf("%q: %w", orig, errNotNumber)
	}
	digits := intPart + frac
	if len(strings.TrimLeft(digits, "0")) > maxDigits || len(frac) > maxScale {
		return Decimal{}, fmt.Errorf("%q: too many digits", orig)
	}
	var units int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return Decimal{}, fmt.Errorf("%q: %w", orig, errNotNumber)
		}
		units = units*10 + int64(c-'0')
	}
	if neg {
		units = -units
	}
	return Decimal{units: units, scale: len(frac)}, nil
}

// MustDecimal is ParseDecimal for constants in tests and examples; it panics on a bad value.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Sign is -1, 0 or +1.
func (d Decimal) Sign() int {
	switch {
	case d.units < 0:
		return -1
	case d.units > 0:
		return 1
	}
	return 0
}

// Abs is |d|.
func (d Decimal) Abs() Decimal {
	if d.units < 0 {
		d.units = -d.units
	}
	return d
}

// Equal reports whether d and e are the same number (4.75 equals 4.750).
func (d Decimal) Equal(e Decimal) bool {
	return d.normal() == e.normal()
}

// normal drops trailing fractional zeros, so equal numbers have equal representations.
func (d Decimal) normal() Decimal {
	for d.scale > 0 && d.units%10 == 0 {
		d.units /= 10
		d.scale--
	}
	return d
}

// divPow10 divides by 10^n exactly: it only moves the decimal point.
func (d Decimal) divPow10(n int) (Decimal, error) {
	d = d.normal()
	if d.scale+n > maxScale {
		return Decimal{}, fmt.Errorf("%s / 10^%d: too many decimal places", d, n)
	}
	d.scale += n
	return d, nil
}

// String writes d with a point and at least two decimals, dropping zeros beyond them:
// "498.55", "4.75" (for 4.750), "0.012", "1.00". It is also how a Decimal is stored.
func (d Decimal) String() string { return d.Format(".") }

// Format is String with sep as the decimal separator ("," in Kazakh and Russian).
func (d Decimal) Format(sep string) string {
	d = d.normal()
	for d.scale < 2 {
		d.units *= 10
		d.scale++
	}
	neg := d.units < 0
	digits := strconv.FormatInt(d.Abs().units, 10)
	for len(digits) <= d.scale {
		digits = "0" + digits
	}
	cut := len(digits) - d.scale
	s := digits[:cut] + sep + digits[cut:]
	if neg {
		s = "-" + s
	}
	return s
}

// MarshalText stores a Decimal as its String, so JSON in Redis holds "4.75", never 4.7499….
func (d Decimal) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (d *Decimal) UnmarshalText(b []byte) error {
	v, err := ParseDecimal(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
