package dpop

import (
	"fmt"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   string
	}{
		{[]string{`DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`},
			`[{DPoP map[error:use_dpop_nonce error_description:Resource server requires nonce in DPoP proof]}]`},
		{[]string{`Bearer realm="a, b", DPoP algs="ES256 PS256", error=use_dpop_nonce`},
			`[{Bearer map[realm:a, b]} {DPoP map[algs:ES256 PS256 error:use_dpop_nonce]}]`},
		{[]string{`Basic realm="x"`, `dpop ERROR = "use_dpop_nonce"`},
			`[{Basic map[realm:x]} {dpop map[error:use_dpop_nonce]}]`},
		{[]string{`Negotiate, DPoP error="a\"b\\c"`}, `[{Negotiate map[]} {DPoP map[error:a"b\c]}]`},
		{[]string{`Basic YWxhZGRpbjpvcGVuc2VzYW1l==`}, `[{Basic map[ywxhzgrpbjpvcgvuc2vzyw1l:=]}]`},
		{[]string{`error="x"`, ``, `,,`}, `[]`},
	} {
		if got := fmt.Sprint(parseChallenges(tt.values)); got != tt.want {
			t.Errorf("parseChallenges(%q)\n got  %s\n want %s", tt.values, got, tt.want)
		}
	}
}
