package store

import "testing"

// The address is replaced wherever it stands as an address, in any ASCII
// case, and never inside a longer address.
func TestReplaceFold(t *testing.T) {
	check := func(in, want string) {
		t.Helper()
		got, changed := replaceFold([]byte(in), "alice@customer.example", "x@invalid")
		if string(got) != want || changed != (in != want) {
			t.Errorf("replaceFold(%q) = %q, %v; want %q", in, got, changed, want)
		}
	}
	check("alice@customer.example", "x@invalid")
	check("Cc: Alice <ALICE@Customer.Example>, bob@customer.example", "Cc: Alice <x@invalid>, bob@customer.example")
	check("mail alice@customer.example. Or alice@customer.example, twice", "mail x@invalid. Or x@invalid, twice")
	check(`{"email":"alice@customer.example"}`, `{"email":"x@invalid"}`)
	check("malice@customer.example", "malice@customer.example")
	check("alice@customer.example.org", "alice@customer.example.org")
	check("alice@customer.examples", "alice@customer.examples")
	check("a.alice@customer.example", "a.alice@customer.example")
	check("", "")
}
