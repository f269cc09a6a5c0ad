package money

import (
	"errors"
	"testing"
)

func TestParseAcceptsDecimalsWithAtMostTwoPlaces(t *testing.T) {
	for in, want := range map[string]Amount{
		"0": 0, "0.5": 50, "0.05": 5, "12": 1200, "12.3": 1230, "1299.99": 129999,
		"49.90": 4990, "999999999999.99": MaxAmount,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestParseRefusesWhatIsNotAPlainDecimal(t *testing.T) {
	for _, in := range []string{
		"", ".", "1.", ".5", "-1", "+1", "1.234", "1e3", " 1", "1 ", "1,000", "01", "00.1",
		"1.2.3", "NaN", "Inf", "1000000000000", "١٢",
	} {
		if got, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %d, %v; want ErrInvalid", in, got, err)
		}
	}
}

func TestStringHasTwoDecimals(t *testing.T) {
	for a, want := range map[Amount]string{0: "0.00", 5: "0.05", 129999: "1299.99", -50: "-0.50", 100: "1.00"} {
		if got := a.String(); got != want {
			t.Errorf("%d.String() = %q; want %q", int64(a), got, want)
		}
	}
}

func TestArithmeticRefusesOverflow(t *testing.T) {
	if _, err := MaxAmount.Mul(1 << 40); err == nil {
		t.Error("Mul overflow not detected")
	}
	if got, err := Amount(129999).Mul(3); err != nil || got != 389997 {
		t.Errorf("Mul = %d, %v", got, err)
	}
	if _, err := Amount(1 << 62).Add(1 << 62); err == nil {
		t.Error("Add overflow not detected")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "1299.99", "49.9", "1.234", "-1", "01", "", "1e9", "999999999999.99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		if a < 0 || a > MaxAmount {
			t.Fatalf("Parse(%q) = %d out of range", s, a)
		}
		// Whatever parses must format back to a value that parses the same.
		back, err := Parse(a.String())
		if err != nil || back != a {
			t.Fatalf("round trip of %q: %q -> %d, %v", s, a.String(), back, err)
		}
	})
}

func TestParseNumberIsExactForJSONNumbers(t *testing.T) {
	for in, want := range map[string]Amount{
		"1299.99": 129999, "1299.990": 129999, "1.29999e3": 129999, "0.1": 10, "49.9": 4990, "0": 0, "12": 1200, "1E2": 10000,
	} {
		got, err := ParseNumber(in)
		if err != nil || got != want {
			t.Errorf("ParseNumber(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "0.001", "1e-3", "1e20", "abc", "1.", ".5", "+1", "1 ", "1/2", "0x10", "01", "NaN"} {
		if got, err := ParseNumber(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseNumber(%q) = %d, %v; want ErrInvalid", in, got, err)
		}
	}
}
