package api

import (
	"hash/maphash"
	"sync"

	"github.com/heimdall/edged/infer"
)

// maxAliases bounds the alias map; when it is full it is emptied and refilled.
const maxAliases = 1 << 16

// aliases remember which cache key a JSON body had, so that a body seen before is
// answered from the cache without decoding its numbers again (decoding is most of the
// cost of a hit). An alias is a 128-bit seeded hash (two maphash seeds, fresh per process,
// so collisions cannot be aimed at) of the model, the query string and the body bytes:
// identical bytes decode to identical samples, so they have the same cache key. Bodies
// that asked not to use the cache never get an alias.
type aliases struct {
	seeds [2]maphash.Seed
	mu    sync.Mutex
	m     map[[2]uint64][32]byte
}

func newAliases() *aliases {
	return &aliases{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, m: make(map[[2]uint64][32]byte)}
}

// of returns the alias of a JSON predict body.
func (a *aliases) of(m *infer.Model, rawQuery string, body []byte) [2]uint64 {
	var out [2]uint64
	for i, seed := range a.seeds {
		var h maphash.Hash
		h.SetSeed(seed)
		for _, f := range []string{m.Name, m.Version, m.SHA256, rawQuery} {
			h.WriteString(f)
			h.WriteByte(0)
		}
		h.Write(body)
		out[i] = h.Sum64()
	}
	return out
}

func (a *aliases) get(k [2]uint64) ([32]byte, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key, ok := a.m[k]
	return key, ok
}

func (a *aliases) put(k [2]uint64, key [32]byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.m) >= maxAliases {
		clear(a.m)
	}
	a.m[k] = key
}
