package flowtest

import "testing"

func TestFindForm(t *testing.T) {
	page := `<form method="post" action="/logout"><input name="csrf_token" value="x"></form>
<form method="post" action="/login?a=1&amp;b=2">
<input type="hidden" name="csrf_token" value="t&amp;1">
<input type="hidden" name="id" value="req1">
<input id="username" name="username" type="text" value="">
</form>`
	action, fields, err := FindForm(page, "/login")
	if err != nil {
		t.Fatal(err)
	}
	if action != "/login?a=1&b=2" || fields.Get("csrf_token") != "t&1" || fields.Get("id") != "req1" || !fields.Has("username") {
		t.Fatalf("got %q %v", action, fields)
	}
	if _, _, err := FindForm(page, "/consent"); err == nil {
		t.Fatal("found a form that is not there")
	}
}
