package authz

import (
	"testing"
	"time"
)

func TestStepOf(t *testing.T) {
	const b32 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := time.Unix(1_800_000_015, 0)
	cur := now.Unix() / 30
	code := func(step int64) string { return totpAt(t, b32, time.Unix(step*30, 0)) }
	c := code(cur)
	for _, tc := range []struct {
		name, code string
		step       int64
		ok         bool
	}{
		{"current", c, cur, true},
		{"as apps show it", c[:3] + " " + c[3:], cur, true},
		{"padded", " " + c + " ", cur, true},
		{"previous step", code(cur - 1), cur - 1, true},
		{"next step", code(cur + 1), cur + 1, true},
		{"two steps back", code(cur - 2), 0, false},
		{"two steps ahead", code(cur + 2), 0, false},
		{"short", c[:5], 0, false},
		{"long", c + "0", 0, false},
		{"letters", "abcdef", 0, false},
		{"empty", "", 0, false},
	} {
		step, ok := stepOf(b32, tc.code, now)
		if ok != tc.ok || (ok && step != tc.step) {
			t.Errorf("%s: stepOf = %d, %v; want %d, %v", tc.name, step, ok, tc.step, tc.ok)
		}
	}
}
