package incident

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse feeds Parse arbitrary documents. Parse must not panic; when it refuses a document it returns no
// incidents and *ParseError problems; when it accepts one, every incident validates and its native JSON
// parses back to the same incidents. The seeds in testdata/fuzz/FuzzParse are small on purpose (every
// evidence type, both formats, some errors): the fuzzer mutates and minimizes small inputs many times
// faster than the full testdata incidents, which TestParseRoundTrip covers.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		incidents, err := Parse("fuzz", data)
		if err != nil {
			if incidents != nil {
				t.Fatalf("Parse returned %d incidents with an error", len(incidents))
			}
			var problem *ParseError
			if !errors.As(err, &problem) {
				t.Fatalf("error %v (%T) holds no *ParseError", err, err)
			}
			return
		}
		for k := range incidents {
			if err := incidents[k].Validate(); err != nil {
				t.Fatalf("incident %d parsed but does not validate: %v", k, err)
			}
		}
		native, err := json.Marshal(incidents)
		if err != nil {
			t.Fatalf("cannot encode parsed incidents: %v", err)
		}
		if len(native) > MaxDocumentSize {
			return // escaping can make the native form larger than the document
		}
		again, err := Parse("native", native)
		if err != nil {
			t.Fatalf("native form of parsed incidents does not parse: %v\n%s", err, native)
		}
		for k := range incidents {
			incidents[k].Source = SourceNative
		}
		if !reflect.DeepEqual(again, incidents) {
			t.Fatalf("native round trip changed the incidents:\n got %#v\nwant %#v", again, incidents)
		}
	})
}
