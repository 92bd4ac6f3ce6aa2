package analyzer

import (
	"hash/maphash"
	"slices"

	authnv1 "k8s.io/api/authentication/v1"
)

// An event's identity (user name, groups, extras) repeats across thousands of events: a
// controller, a kubelet, a token. The Matcher interns it once per distinct identity,
// found by a hash of its fields and confirmed field by field (no string is built per
// event), and keeps with it the CEL map rules read and its memo numbers.

type identity struct {
	id, nameID uint32 // memo parts: the whole identity, and its name and groups
	name       string
	groups     []string
	extra      map[string]authnv1.ExtraValue
	m          map[string]any // the CEL map, made on first use
}

var identitySeed = maphash.MakeSeed()

// maxIdents bounds the identities a Matcher keeps (each with its CEL map, about a
// kilobyte): past it the intern tables and memos start over (a log of one-off identities
// gains nothing from them).
const maxIdents = 1 << 13

const credentialID = "authentication.kubernetes.io/credential-id"

// hashUser hashes name, groups and extras. A credential's ID (a token's JTI, a client
// certificate's fingerprint) stands for all the extras: the others (a bound token's pod
// and node) are claims of that credential, the same whenever it is used.
func hashUser(u *authnv1.UserInfo) uint64 {
	h := maphash.String(identitySeed, u.Username)
	for _, g := range u.Groups {
		h = h*0x100000001B3 ^ maphash.String(identitySeed, g)
	}
	if id := u.Extra[credentialID]; len(id) == 1 {
		return h*0x100000001B3 ^ maphash.String(identitySeed, id[0]) ^ uint64(len(u.Extra))
	}
	for k, vs := range u.Extra {
		x := maphash.String(identitySeed, k)
		for _, v := range vs {
			x = x*0x100000001B3 ^ maphash.String(identitySeed, v)
		}
		h += x * 0x9E3779B97F4A7C15 // a sum: the extras' order does not matter
	}
	return h
}

func (x *identity) same(u *authnv1.UserInfo) bool {
	if x.name != u.Username || !slices.Equal(x.groups, u.Groups) || len(x.extra) != len(u.Extra) {
		return false
	}
	if id := u.Extra[credentialID]; len(id) == 1 {
		have := x.extra[credentialID]
		return len(have) == 1 && have[0] == id[0]
	}
	for k, vs := range u.Extra {
		have, ok := x.extra[k]
		if !ok || !slices.Equal([]string(have), []string(vs)) {
			return false
		}
	}
	return true
}

// ident is the event's identity, interned (once per event).
func (a *eventVars) ident() *identity {
	if a.curIdent != nil {
		return a.curIdent
	}
	u := &a.ev.User
	// most events' identity is the last one seen with the same name: no hashing
	if x := a.lastByName[u.Username]; x != nil && x.same(u) {
		a.curIdent = x
		return x
	}
	h := hashUser(u)
	for _, x := range a.idents[h] {
		if x.same(u) {
			a.lastByName[u.Username] = x
			a.curIdent = x
			return x
		}
	}
	if a.idents == nil {
		a.idents = map[uint64][]*identity{}
	}
	x := &identity{name: u.Username, groups: slices.Clone(u.Groups)}
	if len(u.Extra) > 0 {
		x.extra = make(map[string]authnv1.ExtraValue, len(u.Extra))
		for k, vs := range u.Extra {
			x.extra[k] = slices.Clone(vs)
		}
	}
	a.nIdents++
	x.id = a.nIdents
	ng := u.Username + "\x01" + joinGroups(u.Groups)
	if a.nameGroups == nil {
		a.nameGroups = map[string]uint32{}
	}
	if x.nameID = a.nameGroups[ng]; x.nameID == 0 {
		x.nameID = uint32(len(a.nameGroups) + 1)
		a.nameGroups[ng] = x.nameID
	}
	a.idents[h] = append(a.idents[h], x)
	if a.lastByName == nil {
		a.lastByName = map[string]*identity{}
	}
	a.lastByName[u.Username] = x
	if a.nIdents >= maxIdents {
		a.flush = true
	}
	a.curIdent = x
	return x
}

func joinGroups(g []string) string {
	n := 0
	for _, s := range g {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for i, s := range g {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, s...)
	}
	return string(b)
}

// identityMap is the CEL map of the event's identity, made once per identity.
func (a *eventVars) identityMap() map[string]any {
	x := a.ident()
	if x.m == nil {
		x.m = a.userMap(&a.ev.User)
	}
	return x.m
}

// identityIsSystem: the event's identity is a system one, decided once per identity.
func (a *eventVars) identityIsSystem() bool {
	m := a.identityMap()
	b, _ := m[systemKey].(bool)
	return b
}
