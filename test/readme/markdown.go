package readme

import (
	"bufio"
	"fmt"
	"strings"
)

// block is one fenced ```sh block of a Markdown file and the directives
// written just before it.
type block struct {
	line       int // of the opening fence, 1-based
	script     string
	skip       string // the reason, when the block is not run
	background string // run in the background until its output shows this
	contains   []string
}

const directive = "<!-- readme-test:"

// parseBlocks returns the shell blocks of a Markdown document. Directives
// apply to the next block; a directive the runner does not know, a skip
// without a reason or a directive followed by no shell block is an error,
// so that a misspelt one cannot silently turn a check off.
func parseBlocks(name, doc string) ([]block, error) {
	var (
		out     []block
		pending block
		have    bool // pending holds directives
		fence   string
		cur     *block
		body    strings.Builder
	)
	sc := bufio.NewScanner(strings.NewReader(doc))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if fence != "" { // inside a fenced block
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, "`~") == "" {
				if cur != nil {
					cur.script = body.String()
					out = append(out, *cur)
					cur = nil
				}
				fence = ""
				continue
			}
			if cur != nil {
				body.WriteString(line)
				body.WriteByte('\n')
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			info := strings.Fields(strings.TrimLeft(trimmed, "`~"))
			lang := ""
			if len(info) > 0 {
				lang = info[0]
			}
			if lang == "sh" || lang == "bash" {
				b := pending
				b.line = n
				cur = &b
				body.Reset()
			} else if have {
				return nil, fmt.Errorf("%s:%d: readme-test directives before a %q block: they apply only to sh blocks", name, n, lang)
			}
			pending, have = block{}, false
			continue
		}
		if strings.HasPrefix(trimmed, directive) {
			if !strings.HasSuffix(trimmed, "-->") {
				return nil, fmt.Errorf("%s:%d: a readme-test directive must fit on one line and end with -->", name, n)
			}
			d := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(trimmed, directive), "-->"))
			verb, arg, _ := strings.Cut(d, " ")
			arg = strings.TrimSpace(arg)
			switch {
			case verb == "skip" && arg != "":
				pending.skip = arg
			case verb == "background" && strings.HasPrefix(arg, "until ") && strings.TrimSpace(arg[len("until "):]) != "":
				pending.background = strings.TrimSpace(arg[len("until "):])
			case verb == "output" && strings.HasPrefix(arg, "contains ") && strings.TrimSpace(arg[len("contains "):]) != "":
				pending.contains = append(pending.contains, strings.TrimSpace(arg[len("contains "):]))
			default:
				return nil, fmt.Errorf("%s:%d: unknown readme-test directive %q (want: skip REASON, background until TEXT, output contains TEXT)", name, n, d)
			}
			have = true
			continue
		}
	}
	if fence != "" {
		return nil, fmt.Errorf("%s: a fenced block is not closed", name)
	}
	if have {
		return nil, fmt.Errorf("%s: readme-test directives at the end, before no block", name)
	}
	return out, sc.Err()
}
