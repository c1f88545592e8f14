package guide_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/internal/guidegen"
)

func TestEntityKeysRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []guide.EntityKeys{
		nil,
		{0},
		{0, 1, math.MaxUint64},
		{guide.EntityKey(guide.EntityDeviceID, 98799), guide.EntityKey(guide.EntityDeviceID, 98800), guide.EntityKey(guide.EntityIPAddress, 360606), guide.EntityKey(guide.EntityAccountSid, 441377)},
	}
	for range 50 {
		var k guide.EntityKeys
		for range r.IntN(guide.MaxEntities + 1) {
			k = append(k, r.Uint64())
		}
		slices.Sort(k)
		cases = append(cases, slices.Compact(k))
	}
	for _, k := range cases {
		data, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		var back guide.EntityKeys
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("%v -> %s: %v", k, data, err)
		}
		if !slices.Equal(back, k) {
			t.Fatalf("%v -> %s -> %v", k, data, back)
		}
	}
	// Out of order and repeated keys are written sorted and distinct.
	data, _ := json.Marshal(guide.EntityKeys{9, 3, 9, 1})
	var back guide.EntityKeys
	if err := json.Unmarshal(data, &back); err != nil || !slices.Equal(back, guide.EntityKeys{1, 3, 9}) {
		t.Fatalf("unsorted: %s -> %v, %v", data, back, err)
	}
}

// TestEntityKeysReadTheOldForm: aggregates stored before the packed form hold a JSON array.
func TestEntityKeysReadTheOldForm(t *testing.T) {
	old := `{"Key":{"OrgID":7,"IncidentID":12},"Entities":[216172782113882607,216172782113783808],"Actions":null}`
	var inc guide.Incident
	if err := json.Unmarshal([]byte(old), &inc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inc.Entities, guide.EntityKeys{216172782113783808, 216172782113882607}) {
		t.Fatalf("entities %v", inc.Entities)
	}
	again, err := json.Marshal(inc)
	if err != nil {
		t.Fatal(err)
	}
	var back guide.Incident
	if err := json.Unmarshal(again, &back); err != nil || !slices.Equal(back.Entities, inc.Entities) {
		t.Fatalf("rewritten %s: %v, %v", again, back.Entities, err)
	}
	if strings.Contains(string(again), "216172782113783808") {
		t.Errorf("rewritten in the old form: %s", again)
	}
}

func TestEntityKeysRefuseDamage(t *testing.T) {
	for _, bad := range []string{`"!!"`, `"gA"`, `"AQA"`, `7`, `{"a":1}`, `["x"]`, `"/////////////w"`} {
		var k guide.EntityKeys
		if err := json.Unmarshal([]byte(bad), &k); err == nil || !strings.Contains(err.Error(), "entities") {
			t.Errorf("%s: %v, %v; want an error naming the entities", bad, k, err)
		}
	}
}

// TestEntityKeysAreSmaller measures the packed form against the array on generated GUIDE incidents: the
// keys alone, and whole aggregates as stored (the README's figure).
func TestEntityKeysAreSmaller(t *testing.T) {
	data, _ := generated(t, guidegen.Options{Rows: 200000, Seed: 3})
	incs := aggregate(readRows(t, data))
	packed, plain, n, keys, whole, wholePlain := 0, 0, 0, 0, 0, 0
	for _, inc := range incs {
		b, err := json.Marshal(inc)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := json.Marshal(inc.Entities)
		a, _ := json.Marshal([]uint64(inc.Entities))
		whole += len(b)
		wholePlain += len(b) - len(p) + len(a)
		if len(inc.Entities) == 0 {
			continue
		}
		n++
		keys += len(inc.Entities)
		packed += len(p)
		plain += len(a)
	}
	if n == 0 {
		t.Fatal("no generated incident names an entity")
	}
	t.Logf("%d incidents, %d naming entities, %.1f keys each: keys %d bytes packed, %d as arrays; aggregates %d bytes, %d with arrays",
		len(incs), n, float64(keys)/float64(n), packed/n, plain/n, whole/len(incs), wholePlain/len(incs))
	if packed*2 > plain {
		t.Errorf("packed %d bytes per incident, arrays %d: want at most half", packed/n, plain/n)
	}
}
